package ui

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/duobox/duobox/app/actions"
	"github.com/duobox/duobox/app/bundle"
	"github.com/duobox/duobox/app/config"
	"github.com/duobox/duobox/app/deploy"
	"github.com/duobox/duobox/app/gitlab"
	"github.com/duobox/duobox/app/hardware"
	"github.com/duobox/duobox/app/release"
	"github.com/duobox/duobox/app/stack"
	"github.com/duobox/duobox/app/upgrade"
	"github.com/duobox/duobox/app/weights"
)

// ServicesFrom wires every screen to the use-case layer: the window runs
// the same actions as the CLI, each rendered as widgets here.
func ServicesFrom(c *actions.Core) Services {
	path, _ := c.ConfigFile()
	exportDir, settingsFile := "", ""
	if dirs, err := c.Dirs(); err == nil {
		exportDir, settingsFile = dirs.Data, filepath.Join(dirs.Config, "window-settings.json")
	}
	return Services{
		Detect:            func(ctx context.Context) (hardware.Machine, error) { return c.Detect(ctx, hardware.Overrides{}) },
		Recommend:         c.Recommend,
		RecommendWith:     c.RecommendWith,
		StartMemory:       c.StartMemory,
		ReadGitLabVersion: c.ReadGitLabVersion,
		ConfigPath:        path,
		LoadConfig:        c.LoadConfig,
		SaveConfig: func(ctx context.Context, in deploy.InitInput, hfToken string) (config.Deployment, []string, error) {
			res, err := c.Init(ctx, actions.InitRequest{Input: in, HFToken: hfToken, Replace: true})
			return res.Config, append(res.Notes, res.Warnings...), err
		},
		WatchConfig: func(ctx context.Context, on func(config.Deployment), onErr func(error)) error {
			return config.Watch(ctx, path, func(d config.Deployment) { c.ConfigChanged(); on(d) }, onErr)
		},
		Up: func(ctx context.Context, on func(deploy.Event)) error {
			_, err := c.Up(ctx, actions.UpOptions{SkipWeights: true, OnEvent: on, OnPrepared: func(p deploy.Prepared) {
				for _, w := range p.Warnings {
					on(deploy.Event{Kind: deploy.EventWarning, Message: w})
				}
			}})
			return err
		},
		PullWeights: func(ctx context.Context, on func(weights.Progress)) error { return c.PullWeights(ctx, on) },
		CreateBundle: func(ctx context.Context, file string, on func(bundle.Progress)) (bundle.CreateResult, error) {
			return c.CreateBundle(ctx, bundle.CreateOptions{Output: file}, on)
		},
		LoadBundle: func(ctx context.Context, file string, on func(bundle.Progress)) (bundle.LoadResult, error) {
			return c.LoadBundle(ctx, file, on)
		},
		BuildDocsIndex: c.BuildDocsIndex,
		SearchDocs:     c.SearchDocs,
		Down: func(ctx context.Context) error {
			_, err := c.Down(ctx, false, nil, nil)
			return err
		},
		Restart: func(ctx context.Context, role string) error {
			_, err := c.Restart(ctx, role, nil, nil)
			return err
		},
		Health: c.Dashboard,
		Test:   c.Test,
		FollowLogs: func(ctx context.Context, role string) (LogStream, error) {
			s, err := c.FollowLogs(ctx, role)
			if err != nil {
				return nil, err
			}
			return s, nil
		},
		ExportDir:    exportDir,
		SettingsFile: settingsFile,
		UpgradeCheck: func(ctx context.Context, q UpgradeQuery) (UpgradeInfo, error) {
			in := upgrade.CheckInput{Role: q.Role}
			if q.TagsFile != "" {
				tags, err := release.ReadTagsFile(q.TagsFile)
				if err != nil {
					return UpgradeInfo{}, err
				}
				in.Tags = tags
			}
			rep, err := c.UpgradeCheck(ctx, in)
			if err != nil {
				return UpgradeInfo{}, err
			}
			info := UpgradeInfo{Current: rep.Current, Notes: rep.Warnings}
			for _, t := range rep.Available {
				if t != rep.Current {
					info.Available = append(info.Available, t)
				}
			}
			if rep.Recommended != nil && !rep.UpToDate {
				info.Notes = append(info.Notes, "Recommended: "+*rep.Recommended)
			}
			return info, nil
		},
		Upgrade: func(ctx context.Context, q UpgradeQuery, to string, onStep func(UpgradeStep)) error {
			req := actions.UpgradeRequest{Role: q.Role, To: to}
			if q.TagsFile != "" {
				tags, err := release.ReadTagsFile(q.TagsFile)
				if err != nil {
					return err
				}
				req.Tags = tags
			}
			if q.Archive != "" {
				req.Source, req.Archive = upgrade.SourceArchive, q.Archive
			}
			run, err := c.Upgrade(ctx, req, upgradeSteps(onStep))
			return rolledBack(run, err, onStep)
		},
		Rollback: func(ctx context.Context, role string, onStep func(UpgradeStep)) error {
			run, err := c.Rollback(ctx, role, 0, false, upgradeSteps(onStep))
			return rolledBack(run, err, onStep)
		},
		UpgradeHistory: func(ctx context.Context) ([]UpgradeRecord, error) {
			runs, err := c.UpgradeHistory(ctx, 20)
			if err != nil {
				return nil, err
			}
			out := make([]UpgradeRecord, len(runs))
			for i, r := range runs {
				outcome := r.Outcome
				if outcome == upgrade.OutcomeSucceeded {
					outcome = "upgraded"
				}
				if r.Action == upgrade.ActionRollback && r.Outcome == upgrade.OutcomeSucceeded {
					outcome = "rolled back by hand"
				}
				out[i] = UpgradeRecord{Time: r.StartedAt, From: r.From.Tag, To: r.To.Tag, Outcome: outcome, Reason: r.Reason}
			}
			return out, nil
		},
		Snippet: func(ctx context.Context, f gitlab.Format) (*gitlab.Snippet, []string, error) {
			return c.Snippet(ctx, gitlab.Given{}, f)
		},
		ConnectGitLab: c.ConnectGitLab,
		Export: func(format, target string) ([]string, error) {
			files, err := c.Export(format, stack.ExportOptions{})
			if err != nil {
				return nil, err
			}
			if stack.ExportFile(format) != "" && len(files) == 1 {
				files[0].Name = filepath.Base(target) // the name the user chose
				target = filepath.Dir(target)
			}
			return actions.WriteExport(target, files, false)
		},
		LogContainers: func(ctx context.Context) ([]string, error) {
			cs, err := c.LogContainers(ctx)
			if err != nil {
				return nil, err
			}
			var names []string
			for _, ct := range cs {
				names = append(names, ct.Name)
			}
			return names, nil
		},
		ApplyGitLab: func(ctx context.Context) (string, error) {
			res, err := c.ApplyGitLab(ctx, gitlab.Given{})
			if err != nil {
				return "", err
			}
			if len(res.Plan.Changes) == 0 {
				return "GitLab already matches; nothing to change.", nil
			}
			msg := fmt.Sprintf("Applied %d change(s). Test it: Admin → GitLab Duo → self-hosted models → Test connection.", res.Applied)
			if len(res.Plan.Manual) > 0 {
				msg += "\nStill to do by hand: " + strings.Join(res.Plan.Manual, "; ")
			}
			return msg, nil
		},
	}
}

// upgradeSteps turns the action's typed events into the Upgrade screen's steps.
func upgradeSteps(onStep func(UpgradeStep)) func(deploy.Event) {
	return func(ev deploy.Event) {
		onStep(UpgradeStep{Message: ev.Message, Pull: ev.Pull, RollingBack: ev.Step == string(upgrade.StepRollingBack)})
	}
}

// rolledBack reports an automatic rollback as the last step.
func rolledBack(run upgrade.Run, err error, onStep func(UpgradeStep)) error {
	if run.Outcome == upgrade.OutcomeRolledBack {
		onStep(UpgradeStep{Message: "Rolled back to " + run.From.Tag + ": " + run.Reason, RollingBack: true, Done: true})
	}
	if errors.Is(err, upgrade.ErrUpToDate) {
		return nil
	}
	return err
}
