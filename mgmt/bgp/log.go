package bgp

import (
	"context"
	"log/slog"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// zapHandler is a slog.Handler writing to a zap logger: GoBGP logs through slog, the daemon
// through zap.
type zapHandler struct {
	log   *zap.Logger
	lvl   *slog.LevelVar
	attrs []zap.Field
}

func (h *zapHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.lvl.Level() }

func (h *zapHandler) Handle(_ context.Context, r slog.Record) error {
	fields := append([]zap.Field(nil), h.attrs...)
	r.Attrs(func(a slog.Attr) bool {
		fields = append(fields, zap.Any(a.Key, a.Value.Any()))
		return true
	})
	lvl := zapcore.InfoLevel
	switch {
	case r.Level >= slog.LevelError:
		lvl = zapcore.ErrorLevel
	case r.Level >= slog.LevelWarn:
		lvl = zapcore.WarnLevel
	case r.Level < slog.LevelInfo:
		lvl = zapcore.DebugLevel
	}
	if ce := h.log.Check(lvl, r.Message); ce != nil {
		ce.Write(fields...)
	}
	return nil
}

func (h *zapHandler) WithAttrs(as []slog.Attr) slog.Handler {
	n := *h
	n.attrs = append([]zap.Field(nil), h.attrs...)
	for _, a := range as {
		n.attrs = append(n.attrs, zap.Any(a.Key, a.Value.Any()))
	}
	return &n
}

func (h *zapHandler) WithGroup(name string) slog.Handler {
	n := *h
	n.log = h.log.Named(name)
	return &n
}
