from certcensus.cli import main

main()
