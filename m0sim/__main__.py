from m0sim.cli import main

main()
