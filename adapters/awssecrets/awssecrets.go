// Package awssecrets serves "aws:" secret references from AWS Secrets
// Manager (aws-sdk-go-v2).
//
// aws:<secret-id>[?stage=S][&version=V][#key]: secret-id is a name or an
// ARN; stage defaults to AWSCURRENT (AWSPREVIOUS reads the value before the
// last rotation, useful while a rotation is being verified); version is a
// VersionId; #key extracts a field of a JSON SecretString (the shape RDS
// rotation writes). Region and credentials come from the standard AWS chain
// (environment, shared config and credentials files, web identity / IRSA,
// ECS and EC2 instance roles); throttling and 5xx answers are retried by the
// SDK's standard retryer.
package awssecrets

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/smithy-go"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/tradesense/tradesense/core/secrets"
)

const backend = "aws"

const instrumentation = "github.com/tradesense/tradesense/adapters/awssecrets"

// Config configures the provider. Suggested variable names are in brackets.
type Config struct {
	// Region [AWS_REGION, default: the standard chain's] overrides the
	// region; the SDK also reads AWS_REGION itself, so this is only needed to
	// pin a region different from the rest of the process's AWS usage.
	Region string
	// Endpoint [AWS_SECRETS_ENDPOINT, default: the regional AWS endpoint] is
	// a custom base URL, e.g. http://localstack:4566 or a VPC endpoint.
	Endpoint string
	// MaxAttempts [AWS_MAX_ATTEMPTS, default 3, the SDK's] bounds attempts
	// per call, retries of throttling and 5xx answers included.
	MaxAttempts int
}

// API is the part of the Secrets Manager client the provider uses: reads,
// and the three calls Put makes.
type API interface {
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
	PutSecretValue(ctx context.Context, in *secretsmanager.PutSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.PutSecretValueOutput, error)
	UpdateSecretVersionStage(ctx context.Context, in *secretsmanager.UpdateSecretVersionStageInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.UpdateSecretVersionStageOutput, error)
	CreateSecret(ctx context.Context, in *secretsmanager.CreateSecretInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.CreateSecretOutput, error)
}

// Provider implements secrets.Provider over Secrets Manager.
type Provider struct {
	api    API
	log    *slog.Logger
	tracer trace.Tracer
}

var _ secrets.Provider = (*Provider)(nil)

// New loads the standard AWS configuration, checks that credentials resolve
// (so a pod without a role fails at start-up, not at the first read) and
// returns a Provider. The cleanup releases nothing today; it is there for
// wire's uniformity. log and tp may be nil.
func New(ctx context.Context, cfg Config, log *slog.Logger, tp trace.TracerProvider) (*Provider, func(), error) {
	var opts []func(*config.LoadOptions) error
	if cfg.Region != "" {
		opts = append(opts, config.WithRegion(cfg.Region))
	}
	if cfg.MaxAttempts > 0 {
		opts = append(opts, config.WithRetryMaxAttempts(cfg.MaxAttempts))
	}
	awsCfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, nil, fmt.Errorf("awssecrets: load AWS configuration: %w", err)
	}
	p, err := NewFromAWSConfig(ctx, awsCfg, cfg, log, tp)
	if err != nil {
		return nil, nil, err
	}
	return p, func() {}, nil
}

// NewFromAWSConfig is New with an explicit aws.Config (tests pass static
// credentials and a fast retryer; a caller that already loaded one reuses
// it). cfg.Region and cfg.Endpoint still apply.
func NewFromAWSConfig(ctx context.Context, awsCfg aws.Config, cfg Config, log *slog.Logger, tp trace.TracerProvider) (*Provider, error) {
	if cfg.Region != "" {
		awsCfg.Region = cfg.Region
	}
	if awsCfg.Region == "" {
		return nil, errors.New("awssecrets: no AWS region configured (AWS_REGION)")
	}
	if awsCfg.Credentials == nil {
		return nil, errors.New("awssecrets: no AWS credentials provider")
	}
	if _, err := awsCfg.Credentials.Retrieve(ctx); err != nil {
		return nil, fmt.Errorf("awssecrets: no usable AWS credentials (environment, shared config, web identity or instance role): %w", err)
	}
	client := secretsmanager.NewFromConfig(awsCfg, func(o *secretsmanager.Options) {
		if cfg.Endpoint != "" {
			o.BaseEndpoint = aws.String(cfg.Endpoint)
		}
	})
	return NewWithAPI(client, log, tp), nil
}

// NewWithAPI returns a Provider over any implementation of API.
func NewWithAPI(api API, log *slog.Logger, tp trace.TracerProvider) *Provider {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if tp == nil {
		tp = tracenoop.NewTracerProvider()
	}
	return &Provider{api: api, log: log.With("component", "awssecrets"), tracer: tp.Tracer(instrumentation)}
}

// Get implements secrets.Provider. The version is the AWS VersionId.
func (p *Provider) Get(ctx context.Context, ref secrets.Ref) (secrets.Secret, error) {
	if err := secrets.CheckScheme(backend, ref, secrets.SchemeAWS); err != nil {
		return secrets.Secret{}, err
	}
	ctx, span := p.tracer.Start(ctx, "secretsmanager.GetSecretValue", trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(
			attribute.String("rpc.system", "aws-api"),
			attribute.String("rpc.service", "Secrets Manager"),
			attribute.String("rpc.method", "GetSecretValue"),
			attribute.String("aws.secretsmanager.secret_id", ref.Path)))
	defer span.End()

	in := &secretsmanager.GetSecretValueInput{SecretId: aws.String(ref.Path)}
	if ref.Stage != "" {
		in.VersionStage = aws.String(ref.Stage)
	}
	if ref.Version != "" {
		in.VersionId = aws.String(ref.Version)
	}
	out, err := p.api.GetSecretValue(ctx, in)
	if err != nil {
		err = translate(ref, err)
		span.SetStatus(codes.Error, "GetSecretValue failed")
		return secrets.Secret{}, err
	}
	version := aws.ToString(out.VersionId)
	span.SetAttributes(attribute.String("secret.version", version))
	var val secrets.Secret
	switch {
	case out.SecretString != nil:
		val = secrets.New(*out.SecretString, version)
	case out.SecretBinary != nil:
		val = secrets.FromBytes(out.SecretBinary, version)
	default:
		return secrets.Secret{}, secrets.NotFound(backend, ref, errors.New("the version holds no value"))
	}
	return secrets.ExtractKey(backend, ref, val)
}

// translate maps Secrets Manager errors to apperr kinds. AWS error messages
// name the secret and the reason, never its value.
func translate(ref secrets.Ref, err error) error {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		switch apiErr.ErrorCode() {
		case "ResourceNotFoundException":
			return secrets.NotFound(backend, ref, err)
		case "AccessDeniedException", "UnrecognizedClientException", "InvalidSignatureException",
			"ExpiredTokenException", "DecryptionFailure", "KMSAccessDeniedException":
			return secrets.Forbidden(backend, ref, err)
		case "InvalidParameterException", "ValidationException":
			return secrets.Invalid(backend, ref, "rejected by Secrets Manager: "+apiErr.ErrorMessage())
		case "InvalidRequestException":
			// Among others: the secret is scheduled for deletion. Not an outage.
			return secrets.NotFound(backend, ref, err)
		}
	}
	var respErr *awshttp.ResponseError
	if errors.As(err, &respErr) && respErr.HTTPStatusCode() == http.StatusForbidden {
		return secrets.Forbidden(backend, ref, err)
	}
	return secrets.Unavailable(backend, ref, err)
}
