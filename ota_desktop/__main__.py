from ota_desktop.cli import main

raise SystemExit(main())
