from dbconsole.cli import main

raise SystemExit(main())
