//go:build !linux

package judge

import (
	"errors"
	"os"
)

// LoadTests needs openat2 to keep tests inside their directory.
func LoadTests(dir string) ([]TestCase, error) { return nil, errors.ErrUnsupported }

func LoadInputs(dir string) ([]TestCase, error) { return nil, errors.ErrUnsupported }

func (t TestCase) OpenInput() (*os.File, error) { return nil, errors.ErrUnsupported }

func (t TestCase) OpenAnswer() (*os.File, error) { return nil, errors.ErrUnsupported }
