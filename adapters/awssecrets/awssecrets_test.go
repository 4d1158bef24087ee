package awssecrets_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/tradesense/tradesense/adapters/awssecrets"
	"github.com/tradesense/tradesense/adapters/awssecrets/awsfake"
	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/secrets"
	"github.com/tradesense/tradesense/core/secrets/secretstest"
)

// awsConfig is what the standard chain would load, with the fake's
// credentials and a retryer that does not sleep.
func awsConfig(secretKey string) aws.Config {
	return aws.Config{
		Region:      awsfake.Region,
		Credentials: credentials.NewStaticCredentialsProvider(awsfake.AccessKeyID, secretKey, ""),
		Retryer: func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts = 3
				o.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return time.Millisecond, nil })
				o.RateLimiter = ratelimit.None
			})
		},
	}
}

func newProvider(t *testing.T, f *awsfake.Server) *awssecrets.Provider {
	t.Helper()
	p, err := awssecrets.NewFromAWSConfig(context.Background(), awsConfig(awsfake.SecretAccessKey),
		awssecrets.Config{Endpoint: f.URL}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestContract(t *testing.T) {
	secretstest.Run(t, func(t *testing.T) secretstest.Fixture {
		f := awsfake.New(t)
		return secretstest.Fixture{
			Provider:  newProvider(t, f),
			Scheme:    secrets.SchemeAWS,
			Versioned: true,
			Put: func(t *testing.T, name, value string) secrets.Ref {
				f.PutString("tradesense/"+name, value)
				return secrets.MustParseRef("aws:tradesense/" + name)
			},
			PutFields: func(t *testing.T, name string, fields map[string]string) secrets.Ref {
				b, _ := json.Marshal(fields)
				f.PutString("tradesense/"+name, string(b))
				return secrets.MustParseRef("aws:tradesense/" + name)
			},
			Missing: func(t *testing.T, name string) secrets.Ref {
				return secrets.MustParseRef("aws:tradesense/" + name)
			},
		}
	})
}

func get(t *testing.T, p *awssecrets.Provider, ref string) (secrets.Secret, error) {
	t.Helper()
	return p.Get(context.Background(), secrets.MustParseRef(ref))
}

func TestStagesVersionsARNAndBinary(t *testing.T) {
	f := awsfake.New(t)
	v1 := f.PutString("prod/db", `{"username":"app","password":"old-pw"}`)
	v2 := f.PutString("prod/db", `{"username":"app","password":"new-pw"}`)
	f.PutBinary("prod/bin", []byte{0, 1, 2, 0xff})
	p := newProvider(t, f)

	for ref, want := range map[string]string{
		"aws:prod/db#password":                    "new-pw",
		"aws:prod/db?stage=AWSCURRENT#password":   "new-pw",
		"aws:prod/db?stage=AWSPREVIOUS#password":  "old-pw",
		"aws:prod/db?version=" + v1 + "#password": "old-pw",
		"aws:" + f.ARN("prod/db") + "#password":   "new-pw",
		"aws:prod/bin":                            "\x00\x01\x02\xff",
	} {
		s, err := get(t, p, ref)
		if err != nil {
			t.Errorf("Get(%s): %v", ref, err)
			continue
		}
		if s.Reveal() != want {
			t.Errorf("Get(%s) = %q, want %q", ref, s.Reveal(), want)
		}
	}
	if s, _ := get(t, p, "aws:prod/db#password"); s.Version() != v2 {
		t.Errorf("version = %q, want the VersionId %q", s.Version(), v2)
	}
	if _, err := get(t, p, "aws:prod/db?stage=AWSPENDING"); !apperr.Is(err, apperr.NotFound) {
		t.Errorf("absent stage: %v, want NotFound", err)
	}
	if _, err := get(t, p, "aws:prod/bin#key"); !apperr.Is(err, apperr.Invalid) {
		t.Errorf("#key on binary: %v, want Invalid", err)
	}
}

func TestThrottlingIsRetried(t *testing.T) {
	f := awsfake.New(t)
	f.PutString("s", "value-after-throttling")
	p := newProvider(t, f)
	f.Throttle(2)
	s, err := get(t, p, "aws:s")
	if err != nil || s.Reveal() != "value-after-throttling" {
		t.Fatalf("Get after 2 throttles: %q, %v; want the SDK to retry", s.Reveal(), err)
	}
	if f.Calls() != 3 {
		t.Errorf("%d calls, want 3 (two throttled, one served)", f.Calls())
	}
	f.Throttle(5)
	if _, err := get(t, p, "aws:s"); !apperr.Is(err, apperr.Unavailable) {
		t.Errorf("throttled beyond the retry budget: %v, want Unavailable", err)
	}
}

func TestErrorKinds(t *testing.T) {
	f := awsfake.New(t)
	f.PutString("locked", "locked-value")
	f.Deny("locked")
	f.PutString("ok", "ok-value")
	p := newProvider(t, f)

	if _, err := get(t, p, "aws:locked"); !apperr.Is(err, apperr.Forbidden) {
		t.Errorf("AccessDeniedException: %v, want Forbidden", err)
	}
	f.Fail5xx(3)
	_, err := get(t, p, "aws:ok")
	if !apperr.Is(err, apperr.Unavailable) {
		t.Errorf("persistent 500: %v, want Unavailable", err)
	}
	if err != nil && !strings.Contains(err.Error(), "aws:ok") {
		t.Errorf("error %q does not name the reference", err)
	}

	// A wrong secret key produces a signature the fake rejects: the fake
	// really checks SigV4.
	bad, err := awssecrets.NewFromAWSConfig(context.Background(), awsConfig("wrong-secret-key"),
		awssecrets.Config{Endpoint: f.URL}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bad.Get(context.Background(), secrets.MustParseRef("aws:ok")); !apperr.Is(err, apperr.Forbidden) {
		t.Errorf("bad signature: %v, want Forbidden", err)
	}
	f.Close()
	if _, err := get(t, p, "aws:ok"); !apperr.Is(err, apperr.Unavailable) {
		t.Errorf("endpoint down: %v, want Unavailable", err)
	}
}

func TestConfigErrors(t *testing.T) {
	cfg := awsConfig(awsfake.SecretAccessKey)
	cfg.Region = ""
	if _, err := awssecrets.NewFromAWSConfig(context.Background(), cfg, awssecrets.Config{}, nil, nil); err == nil {
		t.Error("accepted a config without a region")
	}
	cfg = awsConfig(awsfake.SecretAccessKey)
	cfg.Credentials = aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
		return aws.Credentials{}, context.DeadlineExceeded
	})
	if _, err := awssecrets.NewFromAWSConfig(context.Background(), cfg, awssecrets.Config{}, nil, nil); err == nil {
		t.Error("accepted credentials that do not resolve")
	}
}
