package percpu

// Test-only helpers and views of unexported state, shared by the tests of
// every platform (the Linux-only tests build with the linux tag).

// opFastPath says whether the generated critical sections run in this
// process (otherwise the ops' tests run their fallbacks only).
func opFastPath() bool { return proc.fastPath && haveAsm }
