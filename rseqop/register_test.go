package rseqop

import (
	"strings"
	"testing"
	"unsafe"
)

// TestRegisterRefuses: a table whose functions cannot be found is refused
// with a reason, gets Globals that disable its ops, writes no descriptor,
// and is listed by OpStats with the reason.
func TestRegisterRefuses(t *testing.T) {
	var desc [64]byte // a would-be descriptor: must stay zero
	d := unsafe.Pointer(&desc[0])
	if off := uintptr(d) % 32; off != 0 {
		d = unsafe.Add(d, 32-off)
	}
	var aborts [1]uint64
	ops := &Ops{
		Package: "example.com/refused",
		Funcs:   []Func{{Op: "Nothing", Name: "zopNothing"}},
		Entries: []unsafe.Pointer{unsafe.Pointer(&aborts[0])}, // not a function entry
		Descs:   []unsafe.Pointer{d},
		Aborts:  aborts[:],
	}
	g, err := Register(ops)
	if err == nil {
		t.Fatal("Register accepted a table without functions")
	}
	if g.OwnerOffset != OwnerDisabled || g.AreaOffset != 0 {
		t.Errorf("refused package got Globals %+v, want the ownership offset disabled", g)
	}
	for i, b := range desc {
		if b != 0 {
			t.Fatalf("descriptor byte %d written: %#x", i, b)
		}
	}
	var found bool
	for _, s := range OpStats() {
		if s.Package == ops.Package {
			found = true
			if s.Err == nil || s.Func != "zopNothing" {
				t.Errorf("OpStats: %+v", s)
			}
		}
	}
	if !found {
		t.Error("OpStats does not list the refused package")
	}
	if n, ok := Aborts(ops.Package, "zopNothing"); !ok || n != 0 {
		t.Errorf("Aborts = %d, %v", n, ok)
	}
	if proc.fastPath && !strings.Contains(err.Error(), "zopNothing") {
		t.Errorf("error does not name the function: %v", err)
	}

	// A table whose lengths disagree is refused too.
	if _, err := Register(&Ops{Package: "example.com/short", Funcs: make([]Func, 2)}); err == nil {
		t.Error("Register accepted a table with 2 functions and no entries")
	}
}
