// Package schema is the schema of streamrls's Kafka topics and of its HTTP
// API: the snapshots, score records and events the processor writes, the
// headers of its dead letters, and the request and response bodies the
// server writes and the client reads. It imports only the standard library,
// so that a program reading the topics or calling the API needs nothing else
// (no Kafka client, goka or LevelDB).
package schema
