// Package readme holds the test that keeps the README honest: it follows the
// README's install steps in a new module outside the repository and builds
// and runs every Go program the README shows.
package readme
