from optrun.cli import main

main()
