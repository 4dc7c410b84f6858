package amd64

import (
	"go/types"

	"github.com/mmcloughlin/avo/gotypes"
)

func gotypesParse(pkg *types.Package, s string) (*gotypes.Signature, error) {
	return gotypes.ParseSignatureInPackage(pkg, s)
}
