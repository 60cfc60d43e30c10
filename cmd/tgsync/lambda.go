package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/smithy-go/logging"

	"github.com/tgsync/tgsync/internal/config"
	"github.com/tgsync/tgsync/internal/obs"
	"github.com/tgsync/tgsync/internal/status"
	"github.com/tgsync/tgsync/internal/web"
)

// lambdaInitTimeout bounds the cold start's own work (the config, one
// DescribeTargetGroups); Lambda's init phase ends after 10 seconds.
const lambdaInitTimeout = 9 * time.Second

// Error types reported to the Runtime API's /runtime/init/error, in the
// <category.reason> form Lambda recommends.
const (
	initConfigInvalid = "Config.Invalid"
	initNotAttached   = "Config.NotAttached"
	initFailed        = "Init.Failed"
)

// runLambda is the Lambda entry point: it builds the function once and
// hands it to aws-lambda-go's runtime loop, which never returns. A cold
// start that fails is reported through /runtime/init/error, which
// aws-lambda-go does not do, and the process exits non-zero.
func runLambda() int {
	log := obs.NewLogger(os.Stderr, obs.FormatJSON, lambdaLogLevel(os.Getenv("AWS_LAMBDA_LOG_LEVEL")))
	// aws-lambda-go logs through the standard logger; this makes its
	// lines JSON too.
	slog.SetDefault(log)
	ctx, cancel := context.WithTimeout(context.Background(), lambdaInitTimeout)
	f, err := newLambdaFunc(ctx, os.Getenv, log, os.Stdout)
	cancel()
	if err != nil {
		typ := errorType(err, initFailed)
		log.Error("init failed", "errorType", typ, "error", err.Error(), "version", version)
		if rerr := postInitError(os.Getenv("AWS_LAMBDA_RUNTIME_API"), typ, err); rerr != nil {
			log.Error("could not report the init error to the Runtime API", "error", rerr.Error())
		}
		return exitFailed
	}
	lambda.StartWithOptions(f)
	return exitFailed // not reached: the loop exits the process itself
}

// lambdaLogLevel reads AWS_LAMBDA_LOG_LEVEL, which Lambda sets when the
// function's application log level is configured; info otherwise.
func lambdaLogLevel(s string) slog.Level {
	switch strings.ToUpper(s) {
	case "TRACE", "DEBUG":
		return slog.LevelDebug
	case "WARN":
		return slog.LevelWarn
	case "ERROR", "FATAL":
		return slog.LevelError
	}
	return slog.LevelInfo
}

// postInitError sends the documented init error body and header.
func postInitError(api, typ string, err error) error {
	if api == "" {
		return errors.New("AWS_LAMBDA_RUNTIME_API is not set")
	}
	body, _ := json.Marshal(map[string]any{"errorMessage": err.Error(), "errorType": typ, "stackTrace": []string{}})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, rerr := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+api+"/2018-06-01/runtime/init/error", bytes.NewReader(body))
	if rerr != nil {
		return rerr
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Lambda-Runtime-Function-Error-Type", typ)
	resp, rerr := (&http.Client{Transport: &http.Transport{Proxy: nil}}).Do(req)
	if rerr != nil {
		return fmt.Errorf("post init error: %w", rerr)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusAccepted {
		return fmt.Errorf("post init error: status %s", resp.Status)
	}
	return nil
}

// newLambdaFunc is the cold start: the configuration from the environment,
// the AWS clients, and the checks a legacy set asks for, once.
func newLambdaFunc(ctx context.Context, getenv func(string) string, log *slog.Logger, metrics io.Writer) (*lambdaFunc, error) {
	cfg, info, err := config.FromEnv(getenv)
	if err != nil {
		return nil, withType(initConfigInvalid, err)
	}
	for _, n := range info.Notes {
		log.Warn("configuration note", "from", info.From, "note", n)
	}
	logConfigWarnings(log, info.From, cfg.Warnings)
	if cfg.State.File != "" && !underTmp(cfg.State.File) {
		return nil, withType(initConfigInvalid, fmt.Errorf("state.file %s: in Lambda only /tmp is writable, and it is lost on every cold start; keep state in S3 (state: {s3: s3://bucket/prefix/}), or give an absolute path under /tmp", cfg.State.File))
	}
	if cfg.State.Memory {
		log.Warn("state is kept in memory: it is lost on every cold start and not shared between concurrent instances")
	}
	// The SDK logs through the function's JSON logger, and a legacy set's
	// state bucket may be in another Region (BUCKET_REGION).
	a, err := newApp(ctx, cfg, getenv, appOptions{sdkLog: log.With("component", "aws-sdk"), bucketRegion: info.BucketRegion})
	if err != nil {
		return nil, withType(initFailed, err)
	}
	if err := checkLegacyTargetGroup(ctx, a, cfg, info); err != nil {
		return nil, err
	}
	level, err := obs.ParseMetricsLevel(getenv("TGSYNC_METRICS"))
	if err != nil {
		return nil, withType(initConfigInvalid, fmt.Errorf("TGSYNC_METRICS: %w", err))
	}
	f := &lambdaFunc{
		reconciler: a.reconciler,
		log:        log,
		metrics:    metrics,
		calls:      a.calls,
		shards:     a.shards,
		emf:        obs.EMFOptions{Legacy: legacyIPCount(info), Metrics: level},
		interfaces: a.interfaces,
		lister:     a.lister,
		settle:     defaultSettle,
	}
	if f.alb, err = statusPageHandler(a, getenv); err != nil {
		return nil, withType(initConfigInvalid, err)
	}
	if cfg.SpotDrain != nil {
		h, err := newDrainHandler(cfg.SpotDrain, a.groups, a.store, log)
		if err != nil {
			return nil, withType(initConfigInvalid, err)
		}
		f.ecs = ecsHandler(h)
	}
	log.Info("ready", "version", version, "from", info.From, "bindings", f.bindingNames(),
		"state", cfg.State.Kind(), "spotDrain", cfg.SpotDrain != nil, "shards", a.shards.n, logInterfaces(f.interfaces))
	return f, nil
}

// statusPageHandler answers Application Load Balancer requests with the
// status page and /api/status, built from the state store and one
// DescribeTargetHealth per target group, so that the status can be reached
// through PrivateLink, an NLB and an ALB in front of the function.
// TGSYNC_STATUS_PATH_PREFIX strips a listener rule's path prefix.
func statusPageHandler(a *app, getenv func(string) string) (func(context.Context, json.RawMessage) (any, error), error) {
	h, err := web.NewHandler(web.Options{
		Status:        func(ctx context.Context) (status.Status, error) { return gatherStatus(ctx, a, true) },
		ALBPathPrefix: getenv("TGSYNC_STATUS_PATH_PREFIX"),
		Title:         "tgsync",
	})
	if err != nil {
		return nil, fmt.Errorf("status page: %w", err)
	}
	return func(ctx context.Context, raw json.RawMessage) (any, error) {
		req, ok := web.ParseALBRequest(raw)
		if !ok {
			return nil, badEvent("not an Application Load Balancer request: %s", clip(string(raw), 200))
		}
		return h.ALB(ctx, req), nil
	}, nil
}

// ecsHandler is the ECS route's handler: the Spot drain.
func ecsHandler(h *drainHandler) func(context.Context, json.RawMessage) (any, error) {
	return func(ctx context.Context, raw json.RawMessage) (any, error) { return h.handleECSEvent(ctx, raw) }
}

// sdkLogger sends the SDK's own log lines (warnings about retries or
// checksums) to the JSON log instead of plain text on stderr.
type sdkLogger struct{ log *slog.Logger }

func (l sdkLogger) Logf(c logging.Classification, format string, v ...any) {
	level := slog.LevelDebug
	if c == logging.Warn {
		level = slog.LevelWarn
	}
	l.log.Log(context.Background(), level, fmt.Sprintf(format, v...))
}

// checkLegacyTargetGroup does what a legacy set needs from the target
// group at init: AlbId must be a load balancer the group is attached to,
// and hostname-as-target registers on the group's own port.
func checkLegacyTargetGroup(ctx context.Context, a *app, cfg *config.Config, info config.LegacyInfo) error {
	if info.LoadBalancerARN != "" {
		tg := cfg.Bindings[0].TargetGroupARN
		md, err := a.groups.Metadata(ctx, tg)
		if err != nil {
			return withType(initFailed, fmt.Errorf("AlbId: check that AlbTargetGroupId is attached to it: %w", err))
		}
		attached, err := a.groups.AttachedTo(ctx, tg, info.LoadBalancerARN)
		if err != nil {
			return withType(initFailed, err)
		}
		if !attached {
			to := "no load balancer"
			if len(md.LoadBalancerARNs) > 0 {
				to = strings.Join(md.LoadBalancerARNs, ", ")
			}
			return withType(initNotAttached, fmt.Errorf("AlbTargetGroupId %s is not attached to AlbId %s (it is attached to %s): fix AlbId, or add a listener rule that forwards to the target group", tg, info.LoadBalancerARN, to))
		}
	}
	if name := info.PortFromTargetGroup; name != "" {
		var tg string
		for _, b := range cfg.Bindings {
			if b.Name == name {
				tg = b.TargetGroupARN
			}
		}
		md, err := a.groups.Metadata(ctx, tg)
		if err != nil {
			return withType(initFailed, fmt.Errorf("ELB_TG_ARN: read the target group's port: %w", err))
		}
		if md.Port == 0 {
			return withType(initConfigInvalid, fmt.Errorf("ELB_TG_ARN %s has no port (target type %s); tgsync registers targets on the target group's port", tg, md.TargetType))
		}
		if err := info.SetTargetGroupPort(cfg, int(md.Port)); err != nil {
			return withType(initConfigInvalid, err)
		}
		for i := range a.reconciler.Bindings {
			if a.reconciler.Bindings[i].Name == name {
				a.reconciler.Bindings[i].Ports = []uint16{md.Port}
			}
		}
	}
	return nil
}

// legacyIPCount turns on the legacy IP-count metric a legacy set asked for.
func legacyIPCount(info config.LegacyInfo) obs.LegacyIPCount {
	var out obs.LegacyIPCount
	if m := info.IPCount; m != nil {
		out.LoadBalancerIPCount = m.Metric == config.MetricLoadBalancerIPCount
		out.HostnameAsTargetIPCount = m.Metric == config.MetricHostnameAsTargetIPCount
	}
	return out
}

// underTmp reports whether a state file lies under /tmp, the one writable
// place in Lambda. A relative path is relative to the task root
// (/var/task), which is read-only.
func underTmp(path string) bool {
	if !filepath.IsAbs(path) {
		return false
	}
	rel, err := filepath.Rel("/tmp", filepath.Clean(path))
	return err == nil && rel != "." && rel != ".." && !strings.HasPrefix(rel, "../")
}
