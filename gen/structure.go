package gen

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/gorseq/rseq/gen/ir"
	"github.com/gorseq/rseq/internal/arch"
)

// checkStructure checks the shape of one generated asm function (the text
// from its TEXT line to the next): the markers and the signature occur once,
// in order; the instruction right before the post-commit marker is the
// commit store; the section never returns; nothing after the signature but
// the abort counter increment and the jump back to retry; no parameter slot
// is written; only the registers the back end may use appear; the area is
// touched only where DESIGN.md ("What gorseq reads and writes in struct
// rseq") allows: cpu_id and the index field read, rseq_cs written. goarch is
// a row of internal/arch. The generator's tests and fuzz target run it on every
// function they generate.
func checkStructure(goarch, text string, f *ir.Function) error {
	var lines []string
	for _, l := range strings.Split(text, "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "//") {
			continue
		}
		if i := strings.Index(l, " //"); i >= 0 {
			l = strings.TrimSpace(l[:i])
		}
		lines = append(lines, strings.Join(strings.Fields(l), " "))
	}
	find := func(what string, seq ...string) (int, error) {
		at, n := -1, 0
		for i := range lines {
			if i+len(seq) <= len(lines) && equal(lines[i:i+len(seq)], seq) {
				at, n = i, n+1
			}
		}
		if n != 1 {
			return 0, fmt.Errorf("%s: %s found %d times", f.Name(), what, n)
		}
		return at, nil
	}
	var startSeq, postSeq, sigSeq, abortSeq []string
	var commitRE, regRE, areaRE *regexp.Regexp
	var areaOK map[string]bool // the only accesses of the area register's memory
	var armSeq string          // the rseq_cs store
	row, ok := arch.Lookup(goarch)
	if !ok {
		return fmt.Errorf("unknown arch %q", goarch)
	}
	hexWords := func(directive string, ws []uint32) []string {
		var out []string
		for _, w := range ws {
			out = append(out, fmt.Sprintf("%s $%#08x", directive, w))
		}
		return out
	}
	switch goarch {
	case "amd64":
		startSeq = hexWords("LONG", row.StartMarker)
		postSeq = hexWords("LONG", row.PostCommitMarker)
		for _, b := range row.SignaturePrefix {
			sigSeq = append(sigSeq, fmt.Sprintf("BYTE $%#02x", b))
		}
		sigSeq = append(sigSeq, hexWords("LONG", []uint32{row.Signature})...)
		abortSeq = []string{fmt.Sprintf("LEAQ ·%s+%d(SB), R14", ir.Aborts, 8*f.Num), "LOCK", "INCQ (R14)", "JMP retry"}
		commitRE = regexp.MustCompile(`^(MOVQ|MOVL|ADDQ|ADDL) [A-Z0-9]+, -?[0-9]*\([A-Z0-9]+\)(\([A-Z0-9]+\*[1248]\))?$`)
		regRE = regexp.MustCompile(`\b(SP|BP|R15|R15L|SPL|BPL|X15)\b`)
		// AX holds the thread word, then the area: the ownership word
		// through an index register, cpu_id (4), the index field (its
		// offset in R14, from zopIndexOffset), rseq_cs (8, the one store).
		areaRE = regexp.MustCompile(`-?[0-9]*\(AX\)(\([A-Z0-9]+\*[1248]\))?`)
		armSeq = "MOVQ R14, 8(AX)"
		areaOK = map[string]bool{"CMPQ (AX)(R14*1), $0x00": true, "CMPL 4(AX), $0x00": true, armSeq: true}
		for _, r := range []string{"BX", "CX", "DX", "SI", "DI", "R8", "R9", "R10", "R11", "R12", "R13"} {
			areaOK["MOVL (AX)(R14*1), "+r] = true
		}
	case "arm64":
		startSeq = hexWords("WORD", row.StartMarker)
		postSeq = hexWords("WORD", row.PostCommitMarker)
		sigSeq = hexWords("WORD", []uint32{row.Signature})
		abortSeq = []string{fmt.Sprintf("MOVD $·%s+%d(SB), R16", ir.Aborts, 8*f.Num), "abortinc:", "LDAXR (R16), R17", "ADD $1, R17, R17", "STLXR R17, (R16), R15", "CBNZ R15, abortinc", "B retry"}
		commitRE = regexp.MustCompile(`^(MOVD|MOVW) R[0-9]+, -?[0-9]+\(R[0-9]+\)$`)
		regRE = regexp.MustCompile(`\b(R18|R19|R2[0-9]|R30|RSP|LR)\b`)
		areaRE = regexp.MustCompile(`-?[0-9]*\(R0\)(\(R[0-9]+\))?`)
		armSeq = "MOVD R16, 8(R0)"
		areaOK = map[string]bool{"MOVD (R0)(R16), R17": true, "MOVWU 4(R0), R16": true, armSeq: true}
		for r := 1; r <= 11; r++ {
			areaOK[fmt.Sprintf("MOVWU (R0)(R16), R%d", r)] = true
		}
	default:
		return fmt.Errorf("no structure check for %q", goarch)
	}
	start, err := find("start_ip marker", startSeq...)
	if err != nil {
		return err
	}
	post, err := find("post_commit_ip marker", postSeq...)
	if err != nil {
		return err
	}
	sig, err := find("abort signature", sigSeq...)
	if err != nil {
		return err
	}
	if !(start < post && post < sig) {
		return fmt.Errorf("%s: markers out of order (start %d, post-commit %d, signature %d)", f.Name(), start, post, sig)
	}
	if c := lines[post-1]; !commitRE.MatchString(c) {
		return fmt.Errorf("%s: the instruction before the post-commit marker is %q, not a commit store", f.Name(), c)
	}
	// rseq_cs is armed on every way into the section, restarts included:
	// after retry: (where the abort handler jumps) and before start_ip. The
	// ops never rely on the kernel clearing or keeping it.
	retry, err := find("retry label", "retry:")
	if err != nil {
		return err
	}
	arm, err := find("rseq_cs store", armSeq)
	if err != nil {
		return err
	}
	if !(retry < arm && arm < start) {
		return fmt.Errorf("%s: rseq_cs is stored at line %d, not between retry: (%d) and start_ip (%d)", f.Name(), arm, retry, start)
	}
	if !equal(lines[sig+len(sigSeq):], abortSeq) {
		return fmt.Errorf("%s: abort handler is %q, want %q", f.Name(), lines[sig+len(sigSeq):], abortSeq)
	}
	params, _, _ := f.Frame()
	paramBytes := 8 * len(params)
	fpRE := regexp.MustCompile(`, [a-zA-Z0-9]+\+([0-9]+)\(FP\)$`)
	for i, l := range lines {
		if i > start && i < post && (l == "RET" || strings.HasSuffix(l, ":") && i == post-1) {
			return fmt.Errorf("%s: %q inside the critical section", f.Name(), l)
		}
		if m := fpRE.FindStringSubmatch(l); m != nil && !strings.HasPrefix(l, "CMP") && !strings.HasPrefix(l, "TEST") {
			off, _ := strconv.Atoi(m[1])
			if off < paramBytes {
				return fmt.Errorf("%s: %q writes a parameter", f.Name(), l)
			}
			if i > start && i < post {
				return fmt.Errorf("%s: %q writes a result inside the critical section", f.Name(), l)
			}
		}
		if areaRE.MatchString(l) && !areaOK[l] {
			return fmt.Errorf("%s: %q touches the rseq area beyond reading cpu_id or the index field and storing rseq_cs", f.Name(), l)
		}
		if regRE.MatchString(l) {
			return fmt.Errorf("%s: %q uses a register the back end must not touch", f.Name(), l)
		}
		if i > sig && l == "RET" {
			return fmt.Errorf("%s: RET after the abort signature", f.Name())
		}
	}
	return nil
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// splitFunctions returns the text of each TEXT block of an asm file by
// function name.
func splitFunctions(asm string) map[string]string {
	out := map[string]string{}
	var name string
	var b strings.Builder
	flush := func() {
		if name != "" {
			out[name] = b.String()
		}
		b.Reset()
	}
	for _, l := range strings.Split(asm, "\n") {
		if strings.HasPrefix(l, "TEXT ·") {
			flush()
			name = strings.TrimPrefix(l, "TEXT ·")
			name = name[:strings.Index(name, "(")]
			continue
		}
		if strings.HasPrefix(l, "GLOBL") || strings.HasPrefix(l, "DATA") {
			continue
		}
		b.WriteString(l + "\n")
	}
	flush()
	return out
}
