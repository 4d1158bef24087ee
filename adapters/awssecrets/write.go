package awssecrets

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/smithy-go"
	"github.com/google/uuid"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/tradesense/tradesense/core/apperr"
	"github.com/tradesense/tradesense/core/secrets"
)

// Staging labels.
const (
	StageCurrent  = "AWSCURRENT"
	StagePrevious = "AWSPREVIOUS"
	// StagePending labels a version Put created and has not yet made
	// current. It is our own label, not AWSPENDING, so that a write never
	// disturbs a rotation Lambda's pending version.
	StagePending = "TRADESENSE_PENDING"
)

var _ secrets.Writer = (*Provider)(nil)

// Put implements secrets.Writer. Secrets Manager has no conditional
// PutSecretValue, but moving the AWSCURRENT label is conditional: it names
// the version it is removed from and fails if that is not the current one.
// So Put
//
//  1. (with #key) reads the current version, checks it is ifVersion and
//     sets the field in its JSON object;
//  2. stores the new value as a version labelled only TRADESENSE_PENDING,
//     with a fresh client request token (a UUID, which becomes the
//     VersionId; the SDK's retries of that call are idempotent);
//  3. moves AWSCURRENT to it from ifVersion (UpdateSecretVersionStage with
//     RemoveFromVersionId): this is the check-and-set. Secrets Manager moves
//     AWSPREVIOUS to the version that was current;
//  4. removes TRADESENSE_PENDING from it (best effort).
//
// A lost race leaves an unlabelled version, which Secrets Manager deletes
// in time. With NoVersion, Put creates the secret (CreateSecret; an ARN
// cannot be created). IAM: GetSecretValue, PutSecretValue,
// UpdateSecretVersionStage, and CreateSecret for new secrets.
func (p *Provider) Put(ctx context.Context, ref secrets.Ref, value secrets.Secret, ifVersion string) (string, error) {
	if err := secrets.CheckWritable(backend, ref, secrets.SchemeAWS); err != nil {
		return "", err
	}
	ctx, span := p.tracer.Start(ctx, "secretsmanager.Put", trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String("rpc.system", "aws-api"), attribute.String("rpc.service", "Secrets Manager"),
			attribute.String("aws.secretsmanager.secret_id", ref.Path)))
	defer span.End()
	v, err := p.put(ctx, ref, value, ifVersion)
	if err != nil {
		span.SetStatus(codes.Error, "write failed")
		return "", err
	}
	span.SetAttributes(attribute.String("secret.version", v))
	return v, nil
}

func (p *Provider) put(ctx context.Context, ref secrets.Ref, value secrets.Secret, ifVersion string) (string, error) {
	content := value.Reveal()
	if ref.Key != "" {
		var doc []byte
		if ifVersion != secrets.NoVersion {
			cur, err := p.api.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(ref.Path)})
			switch {
			case errorCode(err) == "ResourceNotFoundException":
				return "", secrets.Conflict(backend, ref, "the secret does not exist (expected version "+ifVersion+")")
			case err != nil:
				return "", translateWrite(ref, err)
			case aws.ToString(cur.VersionId) != ifVersion:
				return "", secrets.Conflict(backend, ref, fmt.Sprintf("the secret is at version %s, not %s", aws.ToString(cur.VersionId), ifVersion))
			case cur.SecretString == nil:
				return "", secrets.Malformed(backend, ref, `"#key" needs a JSON object, not a binary secret`)
			}
			doc = []byte(*cur.SecretString)
		}
		b, err := secrets.SetJSONField(doc, ref.Key, content)
		switch {
		case errors.Is(err, secrets.ErrNotUTF8):
			return "", secrets.Invalid(backend, ref, err.Error())
		case err != nil:
			return "", secrets.Malformed(backend, ref, `"#key" needs a JSON object`)
		}
		content = string(b)
	}
	token := uuid.NewString()
	if ifVersion == secrets.NoVersion {
		return p.create(ctx, ref, content, token)
	}
	_, err := p.api.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{
		SecretId:           aws.String(ref.Path),
		ClientRequestToken: aws.String(token),
		SecretString:       aws.String(content),
		VersionStages:      []string{StagePending},
	})
	switch {
	case errorCode(err) == "ResourceNotFoundException":
		return "", secrets.Conflict(backend, ref, "the secret does not exist (expected version "+ifVersion+")")
	case err != nil:
		return "", translateWrite(ref, err)
	}
	_, err = p.api.UpdateSecretVersionStage(ctx, &secretsmanager.UpdateSecretVersionStageInput{
		SecretId:            aws.String(ref.Path),
		VersionStage:        aws.String(StageCurrent),
		MoveToVersionId:     aws.String(token),
		RemoveFromVersionId: aws.String(ifVersion),
	})
	if err != nil {
		return "", p.moveFailed(ctx, ref, ifVersion, err)
	}
	if _, err := p.api.UpdateSecretVersionStage(ctx, &secretsmanager.UpdateSecretVersionStageInput{
		SecretId:            aws.String(ref.Path),
		VersionStage:        aws.String(StagePending),
		RemoveFromVersionId: aws.String(token),
	}); err != nil {
		p.log.WarnContext(ctx, "awssecrets: could not remove the pending label from the new current version",
			"ref", ref.String(), "version", token, "error", err)
	}
	return token, nil
}

func (p *Provider) create(ctx context.Context, ref secrets.Ref, content, token string) (string, error) {
	if strings.HasPrefix(ref.Path, "arn:") {
		return "", secrets.Invalid(backend, ref, "a secret named by ARN cannot be created: use its name")
	}
	out, err := p.api.CreateSecret(ctx, &secretsmanager.CreateSecretInput{
		Name:               aws.String(ref.Path),
		ClientRequestToken: aws.String(token),
		SecretString:       aws.String(content),
		Description:        aws.String("created by tradesense"),
	})
	switch {
	case errorCode(err) == "ResourceExistsException":
		return "", secrets.Conflict(backend, ref, "the secret already exists")
	case err != nil:
		return "", translateWrite(ref, err)
	}
	if v := aws.ToString(out.VersionId); v != "" {
		return v, nil
	}
	return token, nil
}

// moveFailed explains a failed move of AWSCURRENT: a Conflict when the
// current version is no longer ifVersion, else the error itself.
func (p *Provider) moveFailed(ctx context.Context, ref secrets.Ref, ifVersion string, err error) error {
	switch errorCode(err) {
	case "InvalidParameterException", "InvalidRequestException", "ResourceNotFoundException":
		cur, gerr := p.api.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(ref.Path)})
		if gerr == nil && aws.ToString(cur.VersionId) != ifVersion {
			return secrets.Conflict(backend, ref, fmt.Sprintf("the secret is no longer at version %s", ifVersion))
		}
		if errorCode(gerr) == "ResourceNotFoundException" {
			return secrets.Conflict(backend, ref, "the secret no longer exists")
		}
	}
	return translateWrite(ref, err)
}

func errorCode(err error) string {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		return apiErr.ErrorCode()
	}
	return ""
}

// translateWrite is translate for writes: the same kinds, and
// Unavailable says the write may have happened.
func translateWrite(ref secrets.Ref, err error) error {
	if e := translate(ref, err); !apperr.Is(e, apperr.Unavailable) {
		return e
	}
	return secrets.WriteUnavailable(backend, ref, err)
}
