// Package units writes sizes for people: the one byte formatter that the
// CLI, the window and the messages of every package share.
package units

import "fmt"

// HumanBytes writes n in decimal (SI) units, as registries and the hub show
// sizes: "512 B", "1.5 GB".
func HumanBytes(n int64) string {
	const unit = 1000
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %cB", float64(n)/float64(div), "kMGTPE"[exp])
}

// GiB writes n bytes in binary gigabytes with one decimal, as GPU memory
// is quoted: "23.6 GiB".
func GiB(n uint64) string { return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30)) }
