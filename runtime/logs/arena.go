package logs

import "unsafe"

// arena hands out strings carved from large blocks. A ring drops records
// oldest first, so a block becomes garbage as a whole once its last record
// is gone: the heap does not fragment into a million small strings, and the
// memory a full ring keeps stays flat however many lines went through it.
// Only the pipeline's goroutine uses it; the bytes are never written again
// once handed out, which is what makes the unsafe.String sound.
type arena struct {
	block  []byte
	fields []Fields
}

const (
	arenaBlock    = 1 << 20
	arenaMaxPiece = 64 << 10 // longer strings get their own allocation
	fieldsBlock   = 1024
)

// str copies b into the arena and returns it as a string.
func (a *arena) str(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if len(b) > arenaMaxPiece {
		return string(b)
	}
	if cap(a.block)-len(a.block) < len(b) {
		a.block = make([]byte, 0, arenaBlock)
	}
	off := len(a.block)
	a.block = append(a.block, b...)
	return unsafe.String(&a.block[off], len(b))
}

// newFields returns a zeroed Fields from a block of them.
func (a *arena) newFields() *Fields {
	if len(a.fields) == cap(a.fields) {
		a.fields = make([]Fields, 0, fieldsBlock)
	}
	a.fields = a.fields[:len(a.fields)+1]
	return &a.fields[len(a.fields)-1]
}

// keep moves parsed Fields into a block of them. Their strings are already
// substrings of the line's text (in the arena), except the rare ones
// encoding/json had to unescape.
func (a *arena) keep(f *Fields) *Fields {
	k := a.newFields()
	*k = *f
	return k
}
