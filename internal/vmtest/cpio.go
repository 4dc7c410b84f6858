package vmtest

import (
	"fmt"
	"io"
	"os"
	"path"
	"strings"
)

// CPIOWriter writes a cpio archive in the "newc" format the kernel unpacks
// as an initramfs. Parent directories are created on demand.
type CPIOWriter struct {
	w    io.Writer
	ino  uint32
	dirs map[string]bool
	err  error
}

// NewCPIOWriter returns a writer to w.
func NewCPIOWriter(w io.Writer) *CPIOWriter {
	return &CPIOWriter{w: w, ino: 1, dirs: map[string]bool{"": true, ".": true, "/": true}}
}

const (
	modeDir  = 0o040000
	modeFile = 0o100000
	modeChar = 0o020000
)

func (c *CPIOWriter) header(name string, mode uint32, size int64, rdevMajor, rdevMinor uint32) {
	if c.err != nil {
		return
	}
	if size > 0xffffffff {
		c.err = fmt.Errorf("cpio: %s: %d bytes is too large for newc", name, size)
		return
	}
	name = strings.TrimPrefix(path.Clean("/"+name), "/")
	nlink := uint32(1)
	if mode&0o170000 == modeDir {
		nlink = 2
	}
	hdr := fmt.Sprintf("070701%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x",
		c.ino, mode, 0, 0, nlink, 0, uint32(size), 0, 0, rdevMajor, rdevMinor, len(name)+1, 0)
	c.ino++
	c.write([]byte(hdr + name + "\x00"))
	c.pad(int64(len(hdr) + len(name) + 1))
}

func (c *CPIOWriter) write(b []byte) {
	if c.err == nil {
		_, c.err = c.w.Write(b)
	}
}

func (c *CPIOWriter) pad(n int64) {
	if r := n % 4; r != 0 {
		c.write(make([]byte, 4-r))
	}
}

// Mkdir adds directory name (and its parents) with mode perm.
func (c *CPIOWriter) Mkdir(name string, perm uint32) {
	name = path.Clean("/" + name)
	if c.dirs[name] {
		return
	}
	c.Mkdir(path.Dir(name), 0o755)
	c.dirs[name] = true
	c.header(name, modeDir|perm, 0, 0, 0)
}

// WriteFile adds a regular file with the given contents.
func (c *CPIOWriter) WriteFile(name string, perm uint32, data []byte) {
	c.Mkdir(path.Dir(path.Clean("/"+name)), 0o755)
	c.header(name, modeFile|perm, int64(len(data)), 0, 0)
	c.write(data)
	c.pad(int64(len(data)))
}

// CopyFile adds the host file src as name, streaming it.
func (c *CPIOWriter) CopyFile(name string, perm uint32, src string) {
	if c.err != nil {
		return
	}
	f, err := os.Open(src)
	if err != nil {
		c.err = err
		return
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		c.err = err
		return
	}
	c.Mkdir(path.Dir(path.Clean("/"+name)), 0o755)
	c.header(name, modeFile|perm, st.Size(), 0, 0)
	if c.err != nil {
		return
	}
	n, err := io.Copy(c.w, f)
	if err == nil && n != st.Size() {
		err = fmt.Errorf("cpio: %s changed size while copied", src)
	}
	c.err = err
	c.pad(n)
}

// CharDevice adds a character device node.
func (c *CPIOWriter) CharDevice(name string, perm, major, minor uint32) {
	c.Mkdir(path.Dir(path.Clean("/"+name)), 0o755)
	c.header(name, modeChar|perm, 0, major, minor)
}

// Close writes the trailer and returns the first error met. It does not
// close the underlying writer.
func (c *CPIOWriter) Close() error {
	c.header("TRAILER!!!", 0, 0, 0, 0)
	return c.err
}
