package upgrade

import (
	"fmt"
	"slices"
	"testing"
)

func TestExcerptKeepsStartAndEnd(t *testing.T) {
	var lines []string
	for i := 1; i <= 30; i++ {
		lines = append(lines, fmt.Sprint(i))
	}
	got := excerpt(lines, 2, 3)
	want := []string{"1", "2", "… 25 more lines ('duobox history --logs') …", "28", "29", "30"}
	if !slices.Equal(got, want) {
		t.Errorf("excerpt = %q, want %q", got, want)
	}
	if short := excerpt(lines[:5], 2, 3); !slices.Equal(short, lines[:5]) {
		t.Errorf("short input changed: %q", short)
	}
}
