package engine

import (
	"fmt"
	"time"
)

// PullClass names why an image pull failed, one class per fix.
type PullClass string

// The pull failure classes a user can act on.
const (
	PullDNS             PullClass = "dns"              // the registry's name does not resolve
	PullNoRoute         PullClass = "no-route"         // no connection: firewall, no route, a proxy is needed
	PullTLS             PullClass = "tls"              // the registry's certificate is not trusted (private CA)
	PullAuth            PullClass = "auth"             // authentication required or access denied
	PullRateLimited     PullClass = "rate-limited"     // the registry answered 429 (Docker Hub pull limit)
	PullManifestUnknown PullClass = "manifest-unknown" // the tag (or digest) is not in the repository
	PullPlatform        PullClass = "platform"         // no variant for the requested platform
	PullDiskFull        PullClass = "disk-full"        // the engine's disk filled during the pull
	PullInterrupted     PullClass = "interrupted"      // the registry dropped the connection mid-download and the engine could not resume
)

// PullFailure is the cause a failed pull's app.Problem carries: the class,
// the image, its registry host and, for PullRateLimited, when the limit
// resets (zero when the registry did not say). Find it with errors.As.
type PullFailure struct {
	Class    PullClass
	Image    string
	Registry string
	ResetAt  time.Time
	Err      error
}

func (f *PullFailure) Error() string {
	return fmt.Sprintf("pull %s: %s: %v", f.Image, f.Class, f.Err)
}

func (f *PullFailure) Unwrap() error { return f.Err }

// BundleHelps reports whether loading an offline bundle ('duobox bundle
// load') gets around the failure: every class where the registry cannot be
// reached or will not serve the image; not a full disk.
func (f *PullFailure) BundleHelps() bool { return f.Class != PullDiskFull }
