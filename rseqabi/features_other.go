//go:build !linux

package rseqabi

// DetectFeatures returns the defaults outside Linux.
func DetectFeatures() Features { return FeaturesFromAuxv(nil) }
