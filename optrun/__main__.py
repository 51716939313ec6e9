from optrun.entry import main

main()
