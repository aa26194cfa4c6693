package bot

import "errors"

// adapterNamespace is the key/value namespace of an adapter's own state.
// Script namespaces are "script:NAME" and "global", so none shares it.
func adapterNamespace(adapter string) string { return "adapter:" + adapter }

// AdapterState returns what an adapter kept under key (a sync position,
// say), or "" when it kept nothing.
func (s *Store) AdapterState(adapter, key string) (string, error) {
	v, err := s.Get(adapterNamespace(adapter), key)
	if errors.Is(err, ErrNotFound) {
		return "", nil
	}
	return v, err
}

// SetAdapterState keeps val under key for an adapter, across restarts.
func (s *Store) SetAdapterState(adapter, key, val string) error {
	return s.Set(adapterNamespace(adapter), key, val)
}
