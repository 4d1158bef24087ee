package wire

import (
	"github.com/google/wire"

	"github.com/tradesense/tradesense/core/identity"
	"github.com/tradesense/tradesense/core/trading"
)

// The programs' provider sets, profile aside: each injector of wire.go is
// one of them plus LocalSet or ServicesSet.
var (
	// APISet is the api program but for identity's mailer and the OAuth
	// providers' HTTP client, which the program (APIProgramSet) and the
	// component tests' InitializeStack each give their own.
	APISet = wire.NewSet(ConfigSet, TelemetrySet, SecretsSet, provideKeys, DatabaseSet,
		IdentitySet, MFASet, OAuthSet, JobsSet, JournalSet, RealtimeSet, bindRealtimeSessions, ImportsSet, AnalyticsSet, HTTPSet,
		// A profile's time zone change rebuilds, in its transaction, the
		// trades of the accounts that follow the user's zone.
		wire.Bind(new(identity.ZoneObserver), new(*trading.Service)))
	// APIProgramSet is the `tradesense api` program.
	APIProgramSet = wire.NewSet(APISet, provideNotificationsMailer, wire.Value(ProviderClient{}), provideAdapters,
		wire.Struct(new(API), "*"))
	// WorkerProgramSet is the `tradesense worker` program: jobs and the
	// probes, no identity.
	WorkerProgramSet = wire.NewSet(ConfigSet, TelemetrySet, SecretsSet, DatabaseSet, JobsSet, RealtimePublishOnlySet, TradingSet, wire.Value(TradePages{}), ImportsSet, AnalyticsSet,
		provideHTTPDeps, provideOpsServer, provideAdapters, wire.Struct(new(Worker), "*"))
	// UsersProgramSet is the `tradesense users` program: identity without
	// jobs or MFA (noSecondFactor, noMail).
	UsersProgramSet = wire.NewSet(ConfigSet, TelemetrySet, SecretsSet, provideKeys, DatabaseSet,
		IdentitySet, RealtimePublishOnlySet, noSecondFactor, noZones, wire.Value(noMail{}), wire.Bind(new(identity.Mailer), new(noMail)),
		wire.Struct(new(Users), "*"))
)
