// pen: disposable, persistent Linux sandboxes in micro-VMs.
Pen.main()
