package version

import "testing"

func TestParse(t *testing.T) {
	tests := []struct {
		in   string
		want string
		ok   bool
	}{
		{"17", "17", true},
		{"17.2", "17.2", true},
		{"v17.2.1-ee", "17.2.1", true},
		{"17.2.1-ee", "17.2.1", true},
		{" 18.10 ", "18.10", true},
		{"18.x", "", false},
		{"", "", false},
		{"17.2.1.4", "", false},
		{"latest", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			v, err := Parse(tt.in)
			if (err == nil) != tt.ok {
				t.Fatalf("Parse(%q) err = %v, want ok=%v", tt.in, err, tt.ok)
			}
			if tt.ok && v.String() != tt.want {
				t.Fatalf("Parse(%q) = %s, want %s", tt.in, v, tt.want)
			}
		})
	}
}

func TestRangeContains(t *testing.T) {
	r, err := ParseRange("17.2-17.4")
	if err != nil {
		t.Fatal(err)
	}
	for in, want := range map[string]bool{"17.1": false, "17.2": true, "17.4.9": true, "17.5": false, "18.0": false} {
		if got := r.Contains(MustParse(in)); got != want {
			t.Errorf("%s in %s = %v, want %v", in, r, got, want)
		}
	}
	open, _ := ParseRange("18.5-")
	if !open.Contains(MustParse("19.1")) || open.Contains(MustParse("18.4")) {
		t.Errorf("open range %s wrong", open)
	}
	if _, err := ParseRange("18.4-17.1"); err == nil {
		t.Error("reversed range accepted")
	}
}

func TestCompareOrdersNumerically(t *testing.T) {
	if MustParse("18.10").Compare(MustParse("18.9")) <= 0 {
		t.Fatal("18.10 must sort after 18.9")
	}
	if !MustParse("18.4").AtLeast(17, 9) || MustParse("17.8").AtLeast(17, 9) {
		t.Fatal("AtLeast wrong")
	}
}
