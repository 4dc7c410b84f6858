package arch

import "testing"

// TestMarkers: the markers' encodings are the ones committed in generated
// code so far (a change would need every package regenerated), distinct,
// and none contains the signature.
func TestMarkers(t *testing.T) {
	a, _ := Lookup("arm64")
	if a.StartMarker[0] != 0x30029d1f || a.PostCommitMarker[0] != 0x30021d1f {
		t.Errorf("arm64 markers %#x %#x", a.StartMarker[0], a.PostCommitMarker[0])
	}
	for _, a := range All {
		if string(Bytes(a.StartMarker)) == string(Bytes(a.PostCommitMarker)) {
			t.Errorf("%s: start and post-commit markers are equal", a.GOARCH)
		}
		if len(Bytes(a.StartMarker))%a.InsnAlign != 0 || len(a.AbortBytes())%a.InsnAlign != 0 && a.InsnAlign != 1 {
			t.Errorf("%s: markers not whole instructions", a.GOARCH)
		}
	}
}
