package ui

import (
	"context"
	"time"

	"github.com/duobox/duobox/app/actions"
	"github.com/duobox/duobox/app/bundle"
	"github.com/duobox/duobox/app/config"
	"github.com/duobox/duobox/app/deploy"
	"github.com/duobox/duobox/app/docsindex"
	"github.com/duobox/duobox/app/engine"
	"github.com/duobox/duobox/app/gitlab"
	"github.com/duobox/duobox/app/hardware"
	"github.com/duobox/duobox/app/recommend"
	"github.com/duobox/duobox/app/weights"
)

// Services are the use-cases the window calls: the same app/ and runtime/
// code the CLI runs, wired by cmd/duobox. A nil field means the feature is
// not available in this build, and its screen says so instead of pretending.
// Every func is called off the UI goroutine, must honour ctx, and may call
// its callbacks from any goroutine (the ui hands them to fyne.Do).
type Services struct {
	// Detect probes this machine (GPUs, RAM, disk, Docker engine).
	Detect func(ctx context.Context) (hardware.Machine, error)
	// Recommend rates every model GitLab lists at gitlabVersion ("" = the
	// configured or newest one) on m.
	Recommend func(ctx context.Context, m hardware.Machine, gitlabVersion string) (recommend.Result, error)
	// RecommendWith is Recommend under the user's vLLM settings (the Choose
	// screen's fields; opts.GitLab is ignored). Nil: the fields are hidden.
	RecommendWith func(ctx context.Context, m hardware.Machine, gitlabVersion string, opts recommend.Options) (recommend.Result, error)
	// ReadGitLabVersion asks the GitLab instance at url for its version.
	ReadGitLabVersion func(ctx context.Context, url string) (string, error)

	// ConfigPath is the deployment config file the window follows.
	ConfigPath string
	// LoadConfig reads the deployment config (an error wrapping
	// os.ErrNotExist when there is none yet: first run).
	LoadConfig func() (config.Deployment, error)
	// SaveConfig builds the deployment config from the Configure screen's
	// answers (deploy.NewDeployment: catalog, recommendation and gateway tag
	// filled in by the service), stores hfToken in the secrets folder when
	// set, and writes the file. It returns notes on what was assumed.
	SaveConfig func(ctx context.Context, in deploy.InitInput, hfToken string) (config.Deployment, []string, error)
	// WatchConfig follows the config file until ctx ends (config.Watch).
	WatchConfig func(ctx context.Context, onChange func(config.Deployment), onError func(error)) error

	// Up makes the engine match the config and waits until healthy,
	// reporting steps, warnings and per-image pull progress.
	Up func(ctx context.Context, onEvent func(deploy.Event)) error
	// PullWeights downloads the configured model's weights.
	PullWeights func(ctx context.Context, onProgress func(weights.Progress)) error
	// Down stops and removes the stack's containers (weights stay).
	Down func(ctx context.Context) error
	// Restart restarts the containers of a role and waits until healthy.
	Restart func(ctx context.Context, role string) error
	// StartMemory returns, per configured model, vLLM's memory figures at its
	// last start set against DuoBox's prediction (nil: not available).
	StartMemory func(ctx context.Context) ([]recommend.StartRecord, error)
	// Health checks the stack once.
	Health func(ctx context.Context) (StackReport, error)
	// Test sends a real completion and GitLab's own model check.
	Test func(ctx context.Context) (TestResult, error)

	// FollowLogs starts following a role's container log; Close stops it.
	FollowLogs func(ctx context.Context, role string) (LogStream, error)
	// SettingsFile keeps the window's own settings (theme, last screen, log
	// follow) in DuoBox's config folder ("" = the app's preferences).
	SettingsFile string
	// ExportDir is where exported logs go ("" = the temp folder).
	ExportDir string

	// UpgradeCheck, Upgrade, Rollback and UpgradeHistory are the
	// health-gated upgrade (app/upgrade).
	UpgradeCheck   func(ctx context.Context, q UpgradeQuery) (UpgradeInfo, error)
	Upgrade        func(ctx context.Context, q UpgradeQuery, target string, onStep func(UpgradeStep)) error
	Rollback       func(ctx context.Context, role string, onStep func(UpgradeStep)) error
	UpgradeHistory func(ctx context.Context) ([]UpgradeRecord, error)

	// Snippet builds the GitLab-side configuration in one format.
	Snippet func(ctx context.Context, f gitlab.Format) (*gitlab.Snippet, []string, error)
	// BuildDocsIndex builds the gateway's documentation index
	// (docsindex.Make); an empty req.Output means DuoBox's default file.
	BuildDocsIndex func(ctx context.Context, req docsindex.Request) (docsindex.Result, error)
	// SearchDocs runs the gateway's own query on an index ("" = the default file).
	SearchDocs func(ctx context.Context, index, query string, limit int) ([]docsindex.Hit, error)

	// CreateBundle writes an offline bundle for the configured deployment
	// to file (bundle.Create); LoadBundle verifies and loads one
	// (bundle.Load). Both report progress with sizes and rates.
	CreateBundle func(ctx context.Context, file string, onProgress func(bundle.Progress)) (bundle.CreateResult, error)
	LoadBundle   func(ctx context.Context, file string, onProgress func(bundle.Progress)) (bundle.LoadResult, error)

	// ApplyGitLab creates the model entries and settings through GitLab's
	// API and says what it did.
	ApplyGitLab func(ctx context.Context) (string, error)
	// ConnectGitLab reads GitLab's version at url and checks token ("" =
	// the stored one); only then is the token stored (0600).
	ConnectGitLab func(ctx context.Context, url, token string) (gitlab.ConnectResult, error)
	// Export writes the deployment as format (compose, docker-run, helm)
	// and returns the files written: to the file target when the format is
	// one file (stack.ExportFile names it), into the folder target otherwise.
	Export func(format, target string) ([]string, error)
	// LogContainers lists the stack's DuoBox containers (the serving ones
	// and those an upgrade kept) by name.
	LogContainers func(ctx context.Context) ([]string, error)
}

// The Dashboard's and the log viewer's values are the use-case layer's.
type (
	StackReport   = actions.StackReport
	ContainerCard = actions.ContainerCard
	Banner        = actions.Banner
	LogLine       = actions.LogLine
	LogFilter     = actions.LogFilter
	TestResult    = actions.TestResult // the smoke test
)

// LogStream is one followed container log. Safe for concurrent use.
type LogStream interface {
	// Lines returns the held lines matching f with Seq above after, oldest
	// first; a bad pattern is an error saying what is wrong.
	Lines(f LogFilter, after uint64) ([]LogLine, error)
	// Line is the line numbered seq while the stream still holds it (the
	// newest MaxLogLines lines): a pane keeps line numbers, not copies.
	Line(seq uint64) (LogLine, bool)
	// Export writes the lines matching f to path (0600).
	Export(path string, f LogFilter) error
	// Close stops following.
	Close()
}

// UpgradeQuery says which container an upgrade is about and, offline,
// where its versions come from.
type UpgradeQuery struct {
	Role     string // stack.RoleGateway (default) or stack.RoleModel
	TagsFile string // offline: a file listing the tags, one per line
	Archive  string // offline: a 'docker save' image archive to upgrade from
}

// UpgradeInfo is what Upgrade can move to.
type UpgradeInfo struct {
	Current   string   // the running gateway image tag
	Available []string // newer tags for this GitLab version, newest first
	Notes     []string
}

// UpgradeStep is one thing an upgrade or rollback did, as it happens.
type UpgradeStep struct {
	Message     string
	Pull        *engine.Progress // set while an image is pulled
	RollingBack bool             // the automatic rollback has started
	Done        bool
}

// UpgradeRecord is one past upgrade or rollback.
type UpgradeRecord struct {
	Time    time.Time
	From    string
	To      string
	Outcome string // upgraded, rolled-back, failed
	Reason  string
}
