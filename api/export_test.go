package api

// Patterns is every ServeMux pattern of s's handler.
func Patterns(s *Server) []string {
	var out []string
	for _, r := range s.routes() {
		out = append(out, r.pattern)
	}
	return out
}

// WriteJSON is writeJSON.
var WriteJSON = writeJSON
