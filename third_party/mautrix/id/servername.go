// Copyright (c) 2025 Tulir Asokan
//
// This Source Code Form is subject to the terms of the Mozilla Public
// License, v. 2.0. If a copy of the MPL was not distributed with this
// file, You can obtain one at http://mozilla.org/MPL/2.0/.

package id

import (
	"regexp"
	"strconv"
	"sync" // wirebot: for the lazy serverNameRegex
)

type ParsedServerNameType int

const (
	ServerNameDNS ParsedServerNameType = iota
	ServerNameIPv4
	ServerNameIPv6
)

type ParsedServerName struct {
	Type ParsedServerNameType
	Host string
	Port int
}

// wirebot: compiled when first used, not in the package initialiser: its
// {1,255} expands into a program of 255 KB that every start of the binary
// built (0.44 ms), and wirebot's scripts start it for each `wirebot brain`.
// The exported ServerNameRegex is gone; nothing in wirebot or in the
// packages it links used it.
var serverNameRegex = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^(?:\[([0-9A-Fa-f:.]{2,45})]|(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})|([0-9A-Za-z.-]{1,255}))(?::(\d{1,5}))?$`)
})

func ValidateServerName(serverName string) bool {
	return len(serverName) <= 255 && len(serverName) > 0 && serverNameRegex().MatchString(serverName)
}

func ParseServerName(serverName string) *ParsedServerName {
	if len(serverName) > 255 || len(serverName) < 1 {
		return nil
	}
	match := serverNameRegex().FindStringSubmatch(serverName)
	if len(match) != 5 {
		return nil
	}
	port, _ := strconv.Atoi(match[4])
	parsed := &ParsedServerName{
		Port: port,
	}
	switch {
	case match[1] != "":
		parsed.Type = ServerNameIPv6
		parsed.Host = match[1]
	case match[2] != "":
		parsed.Type = ServerNameIPv4
		parsed.Host = match[2]
	case match[3] != "":
		parsed.Type = ServerNameDNS
		parsed.Host = match[3]
	}
	return parsed
}
