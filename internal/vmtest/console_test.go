package vmtest

import "testing"

func TestStripTerminalControls(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"plain text, tab\tkept", "plain text, tab\tkept"},
		// The first console line of a SeaBIOS boot, as qemu's serial port
		// delivers it.
		{"\x1bc\x1b[?7l\x1b[2J\x1b[0mSeaBIOS (version 1.16.2-debian-1.16.2-1)", "SeaBIOS (version 1.16.2-debian-1.16.2-1)"},
		{"\x1b[1;32mok\x1b[0m  percpu", "ok  percpu"},
		{"\x1b(Bcharset \x1b7saved\x1b8", "charset saved"},
		{"\x1b]0;title\x07after OSC", "after OSC"},
		{"\x1b]2;title\x1b\\after ST", "after ST"},
		{"bell\x07 and nul\x00 and del\x7f", "bell and nul and del"},
		{"unterminated \x1b[12", "unterminated "},
		{"trailing escape \x1b", "trailing escape "},
		{"utf-8 stays: µs, —", "utf-8 stays: µs, —"},
		{InfoPrefix + "rseq ok", InfoPrefix + "rseq ok"},
	} {
		if got := StripTerminalControls(tc.in); got != tc.want {
			t.Errorf("StripTerminalControls(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestStripTerminalControlsKeepsResults: a result line that follows control
// sequences on the same console line still parses.
func TestStripTerminalControlsKeepsResults(t *testing.T) {
	r := Result{Name: "percpu", Exit: 0, Seconds: 3}
	got, ok := ParseResult(StripTerminalControls("\x1b[0m\x1b[2J" + FormatResult(r)))
	if !ok || got != r {
		t.Fatalf("ParseResult after stripping = %+v, %v; want %+v", got, ok, r)
	}
}
