// Package e2e tests streamrls as a user runs it: the real binary, real
// processes killed at random, the embedded broker stopped under load, and
// real external clients (kafka-python, numpy, kcat, chromium).
package e2e
