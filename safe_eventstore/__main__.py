from safe_eventstore.cli import main

main()
