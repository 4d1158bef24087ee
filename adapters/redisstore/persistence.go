package redisstore

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"strings"
)

// Persistence is what the server says of its durability (INFO
// persistence, CONFIG GET appendfsync).
type Persistence struct {
	// AOF is whether the append-only file is on: every write is logged,
	// and a restart replays it.
	AOF bool
	// AppendFsync is the AOF's fsync policy ("always", "everysec", "no"),
	// "" when the server does not let clients read its configuration
	// (managed services often refuse CONFIG).
	AppendFsync string
	// RDB is whether periodic snapshots are configured (save points).
	RDB bool
}

// Durable reports whether a restart of the server keeps the job records:
// the AOF is on and fsyncs at least every second.
func (p Persistence) Durable() bool {
	return p.AOF && p.AppendFsync != "no"
}

// Persistence asks the server how it persists its data.
func (c *Client) Persistence(ctx context.Context) (Persistence, error) {
	info, err := c.rdb.Info(ctx, "persistence").Result()
	if err != nil {
		return Persistence{}, fmt.Errorf("redis at %s: info persistence: %w", c.addr, err)
	}
	var p Persistence
	sc := bufio.NewScanner(strings.NewReader(info))
	for sc.Scan() {
		k, v, _ := strings.Cut(strings.TrimSpace(sc.Text()), ":")
		switch k {
		case "aof_enabled":
			p.AOF = v == "1"
		}
	}
	if cfg, err := c.rdb.ConfigGet(ctx, "appendfsync").Result(); err == nil {
		p.AppendFsync = cfg["appendfsync"]
	}
	if cfg, err := c.rdb.ConfigGet(ctx, "save").Result(); err == nil {
		p.RDB = strings.TrimSpace(cfg["save"]) != ""
	}
	return p, nil
}

// warnIfVolatile logs, once at start-up, when the server would lose the
// job records and rate-limit state in a restart (docs/deploy.md, "Redis
// durability").
func (c *Client) warnIfVolatile(ctx context.Context, log *slog.Logger) {
	p, err := c.Persistence(ctx)
	if err != nil {
		log.Warn("redis persistence unknown", slog.String("addr", c.addr), slog.Any("error", err))
		return
	}
	c.persistence.Store(&p)
	if !p.Durable() {
		log.Warn("redis does not keep its data across a restart (want appendonly yes, appendfsync everysec): "+
			"queued and scheduled jobs would be lost with it; see docs/deploy.md",
			slog.String("addr", c.addr), slog.Bool("aof", p.AOF), slog.String("appendfsync", p.AppendFsync), slog.Bool("rdb", p.RDB))
	}
}
