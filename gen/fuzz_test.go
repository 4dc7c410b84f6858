package gen

import (
	"errors"
	"testing"

	"github.com/gorseq/rseq/gen/ir"
)

// decoder turns fuzz bytes into an op. It mostly builds plausible ops
// (values defined before use, limit present) so that the fuzzer reaches
// the back ends, but every field can also come out wrong.
type decoder struct{ b []byte }

func (d *decoder) u8() byte {
	if len(d.b) == 0 {
		return 0
	}
	x := d.b[0]
	d.b = d.b[1:]
	return x
}

func (d *decoder) n(k int) int { return int(d.u8()) % k }

var fuzzNames = []string{"stride", "expect", "newv", "inc", "ptr", "off", "n", "src", "x", "y", "e", "idx", "v3", "Bad", "if", "len"}

// decodeOp builds a well-typed op from data with the ir.Builder, then,
// for one input in four, corrupts one field of one statement.
func decodeOp(data []byte) *ir.Op {
	d := &decoder{b: data}
	b := ir.New("Fuzz", "fuzzed op")
	limit := b.Param("limit", ir.Word)
	_ = limit
	base := b.Param("base", ir.Ptr)
	params := []int{base}
	used := map[string]bool{"limit": true, "base": true}
	for i, np := 0, d.n(4); i < np; i++ {
		name := fuzzNames[d.n(len(fuzzNames))]
		if used[name] {
			continue
		}
		used[name] = true
		params = append(params, b.Param(name, []ir.Type{ir.Word, ir.Word, ir.Ptr, ir.Int}[d.n(4)]))
	}
	ptrs := []ir.Value{b.Arg(base)}
	words := []ir.Value{ir.Idx}
	pick := func(vs []ir.Value) ir.Value { return vs[d.n(len(vs))] }
	operand := func() ir.Operand {
		if d.n(2) == 0 {
			imms := []int64{0, 1, 4, 32, 4095, 4096, -1, 1<<32 - 1, 1 << 32, -1 << 31, 1<<63 - 1}
			return ir.Imm(imms[d.n(len(imms))])
		}
		return ir.V(pick(words))
	}
	addr := func() ir.Addr {
		a := ir.At(pick(ptrs), int32(int8(d.u8())))
		if d.n(2) == 0 {
			a.Index, a.Scale = pick(words), []uint8{1, 2, 4, 8}[d.n(4)]
		}
		return a
	}
	var fails []int
	for ns := d.n(12); ns > 0 && len(d.b) > 0; ns-- {
		switch d.n(7) {
		case 0:
			p := params[d.n(len(params))]
			v := b.Arg(p)
			if b.Op().TypeOf(v) == ir.Ptr {
				ptrs = append(ptrs, v)
			} else {
				words = append(words, v)
			}
		case 1:
			op := []ir.ALUOp{ir.Add, ir.Sub, ir.Mul, ir.And, ir.Or, ir.Shl, ir.Shr}[d.n(7)]
			x := operand()
			if op == ir.Shl || op == ir.Shr {
				x = ir.Imm(int64(d.n(64)))
			}
			if (op == ir.Add || op == ir.Sub) && d.n(2) == 0 {
				if x.IsImm {
					x.Imm = int64(int16(x.Imm))
				}
				ptrs = append(ptrs, b.ALU(op, pick(ptrs), x))
			} else {
				words = append(words, b.ALU(op, pick(words), x))
			}
		case 2:
			switch d.n(3) {
			case 0:
				ptrs = append(ptrs, b.Load(ir.Ptr, 8, addr()))
			case 1:
				words = append(words, b.Load(ir.Word, 8, addr()))
			default:
				words = append(words, b.Load(ir.Word, 4, addr()))
			}
		case 3:
			if d.n(2) == 0 {
				b.Store(8, addr(), pick(ptrs))
			} else {
				b.Store([]uint8{4, 8}[d.n(2)], addr(), pick(words))
			}
		case 4:
			var k int
			if len(fails) == 0 || d.n(2) == 0 {
				k = b.Fail("fuzz failure")
				fails = append(fails, k)
			} else {
				k = fails[d.n(len(fails))]
			}
			if d.n(4) == 0 {
				b.BranchFail(pick(ptrs), []ir.Cond{ir.EQ, ir.NE}[d.n(2)], ir.V(pick(ptrs)), k)
			} else {
				b.BranchFail(pick(words), ir.Cond(1+d.n(8)), operand(), k)
			}
		case 5:
			b.Copy(pick(ptrs), pick(ptrs), pick(words))
		case 6:
			if len(words) > 1 && len(b.Op().Results) < 2 {
				name := fuzzNames[d.n(len(fuzzNames))]
				if !used[name] {
					used[name] = true
					b.Result(name, pick(append(words[1:], ptrs...)))
				}
			}
		}
	}
	if d.n(2) == 0 {
		b.CommitAdd([]uint8{4, 8}[d.n(2)], addr(), pick(words))
	} else if d.n(2) == 0 {
		b.Commit(8, addr(), pick(ptrs))
	} else {
		b.Commit([]uint8{4, 8}[d.n(2)], addr(), pick(words))
	}
	op := b.Op()
	if d.n(4) == 0 && len(op.Body) > 0 {
		s := &op.Body[d.n(len(op.Body))]
		v := ir.Value(d.n(op.NumValues() + 2))
		switch d.n(10) {
		case 0:
			s.Dst = v
		case 1:
			s.A = v
		case 2:
			s.B = ir.V(v)
		case 3:
			s.Addr.Base = v
		case 4:
			s.Size = d.u8() % 10
		case 5:
			s.Kind = ir.Kind(d.n(9))
		case 6:
			s.Fail = d.n(4)
		case 7:
			s.Param = d.n(8) - 1
		case 8:
			op.Body = append(op.Body, op.Body[0])
		case 9:
			s.Addr.Scale = d.u8() % 10
		}
	}
	return op
}

// FuzzOp feeds generated op descriptions to Validate. An op must either be
// rejected with an *ir.Error or generate on both back ends into functions
// that pass checkStructure, with a fallback that type-checks. The seed
// corpus (testdata/fuzz/FuzzOp plus the seeds below) runs in plain go test.
func FuzzOp(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20})
	f.Add([]byte("\x05\x00\x00\x01\x00\x02\x01\x03\x01\x04\x01\x01\x05\x01\x06\x05\x03\x07\x00\x08\x01"))
	f.Add([]byte("\x01\x02\x03\x00\x01\x08\x01\x01\x09\x02\x01\x01\x03\x02\x00\x03\x04\x05\x06\x07\x08\x01\x02\x03\x04"))
	for i := 0; i < 16; i++ {
		seed := make([]byte, 64)
		for j := range seed {
			seed[j] = byte(i*31 + j*7)
		}
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		op := decodeOp(data)
		err := op.Validate()
		if err != nil {
			var ie *ir.Error
			if !errors.As(err, &ie) || ie.Msg == "" {
				t.Fatalf("rejection without a clear *ir.Error: %v", err)
			}
			return
		}
		checkAsm(t, ir.Functions([]*ir.Op{op}))
		checkFallback(t, []*ir.Op{op})
	})
}

// TestFuzzSeedsReachBackEnds makes sure the decoder produces valid ops, so
// that the fuzz target exercises the back ends and not only Validate.
func TestFuzzSeedsReachBackEnds(t *testing.T) {
	valid := 0
	for i := 0; i < 20000; i++ {
		data := make([]byte, 48)
		x := uint32(i)*2654435761 + 1
		for j := range data {
			x ^= x << 13
			x ^= x >> 17
			x ^= x << 5
			data[j] = byte(x)
		}
		if op := decodeOp(data); op.Validate() == nil {
			valid++
			if valid <= 200 { // and generate a sample of them
				checkAsm(t, ir.Functions([]*ir.Op{op}))
				checkFallback(t, []*ir.Op{op})
			}
		}
	}
	t.Logf("%d of 20000 random inputs are valid ops", valid)
	if valid == 0 {
		t.Error("no random input decodes to a valid op: the fuzz target never reaches the back ends")
	}
}
