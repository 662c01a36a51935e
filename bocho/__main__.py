from bocho.cli import main

raise SystemExit(main())
