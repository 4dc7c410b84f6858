package vmtest

import "strings"

// StripTerminalControls returns line without the terminal control sequences
// a guest writes to its serial console (firmware and kernels reset and
// clear the screen: SeaBIOS starts with ESC c, ESC [?7l, ESC [2J, ESC [0m),
// so that logs hold only text: escape sequences (CSI, OSC and the short
// ESC forms) and the other C0 control characters are removed; tabs stay.
func StripTerminalControls(line string) string {
	if !strings.ContainsFunc(line, isControl) {
		return line
	}
	var b strings.Builder
	b.Grow(len(line))
	for i := 0; i < len(line); {
		c := line[i]
		switch {
		case c == 0x1b:
			i = skipEscape(line, i)
		case isControl(rune(c)):
			i++
		default:
			b.WriteByte(c)
			i++
		}
	}
	return b.String()
}

// isControl reports an ASCII control character other than tab.
func isControl(r rune) bool { return (r < 0x20 && r != '\t') || r == 0x7f }

// skipEscape returns the index after the escape sequence that starts with
// the ESC at s[i] (ECMA-48). An unterminated sequence runs to the end.
func skipEscape(s string, i int) int {
	i++ // ESC
	if i >= len(s) {
		return i
	}
	switch s[i] {
	case '[': // CSI: parameters and intermediates 0x20-0x3f, final 0x40-0x7e
		for i++; i < len(s); i++ {
			if s[i] >= 0x40 && s[i] <= 0x7e {
				return i + 1
			}
		}
		return i
	case ']', 'P', '_', '^', 'X': // OSC, DCS, APC, PM, SOS: up to BEL or ST (ESC \)
		for i++; i < len(s); i++ {
			if s[i] == 0x07 {
				return i + 1
			}
			if s[i] == 0x1b && i+1 < len(s) && s[i+1] == '\\' {
				return i + 2
			}
		}
		return i
	}
	// Other forms: intermediates 0x20-0x2f, then one final byte 0x30-0x7e
	// (ESC c, ESC 7, ESC ( B, ...).
	for ; i < len(s) && s[i] >= 0x20 && s[i] <= 0x2f; i++ {
	}
	if i < len(s) && s[i] >= 0x30 && s[i] <= 0x7e {
		i++
	}
	return i
}
