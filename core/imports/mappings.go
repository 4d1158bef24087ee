package imports

import (
	"context"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/tradesense/tradesense/core/apperr"
)

// MappingInput is a saved mapping to create or replace.
type MappingInput struct {
	Name    string
	Columns map[string]string
}

func (in *MappingInput) validate() error {
	in.Name = strings.TrimSpace(in.Name)
	fields := map[string]string{}
	if n := utf8.RuneCountInString(in.Name); n == 0 || n > 100 || !utf8.ValidString(in.Name) {
		fields["name"] = "must be 1 to 100 characters"
	}
	for k, v := range ValidateMapping(in.Columns) {
		fields["columns."+k] = v
	}
	if len(fields) > 0 {
		e := apperr.Validation("invalid column mapping", fields)
		e.Code = CodeMappingInvalid
		return e
	}
	return nil
}

// CreateMapping saves a generic column mapping.
func (s *Service) CreateMapping(ctx context.Context, userID uuid.UUID, in MappingInput) (*Mapping, error) {
	if err := in.validate(); err != nil {
		return nil, err
	}
	now := s.d.Now().UTC()
	m := &Mapping{ID: s.d.NewID(), UserID: userID, Name: in.Name, Columns: in.Columns, Version: 1, CreatedAt: now, UpdatedAt: now}
	if err := s.d.Mappings.Create(ctx, m); err != nil {
		return nil, err
	}
	return m, nil
}

// GetMapping returns one of the user's mappings.
func (s *Service) GetMapping(ctx context.Context, userID, id uuid.UUID) (*Mapping, error) {
	return s.d.Mappings.Get(ctx, userID, id)
}

// ListMappings returns the user's mappings by name.
func (s *Service) ListMappings(ctx context.Context, userID uuid.UUID) ([]Mapping, error) {
	return s.d.Mappings.List(ctx, userID)
}

// UpdateMapping replaces a mapping's name and columns if its version is
// still ifVersion (0: whatever it is).
func (s *Service) UpdateMapping(ctx context.Context, userID, id uuid.UUID, in MappingInput, ifVersion int64) (*Mapping, error) {
	if err := in.validate(); err != nil {
		return nil, err
	}
	var out *Mapping
	err := s.d.Tx.Do(ctx, func(ctx context.Context) error {
		m, err := s.d.Mappings.Get(ctx, userID, id)
		if err != nil {
			return err
		}
		if ifVersion != 0 && m.Version != ifVersion {
			return apperr.New(apperr.Conflict, "version_mismatch", "the mapping changed since it was read: reload it and try again")
		}
		m.Name, m.Columns, m.Version, m.UpdatedAt = in.Name, in.Columns, m.Version+1, s.d.Now().UTC()
		if err := s.d.Mappings.Update(ctx, m); err != nil {
			return err
		}
		out = m
		return nil
	})
	return out, err
}

// DeleteMapping removes one of the user's mappings.
func (s *Service) DeleteMapping(ctx context.Context, userID, id uuid.UUID) error {
	return s.d.Mappings.Delete(ctx, userID, id)
}
