package api

import (
	"net/http"
	"net/http/httptest"
)

func newRequestWithIfMatch(v string) (*http.Request, error) {
	r := httptest.NewRequest("PUT", "/v1/tenants/acme/stage", nil)
	r.Header["If-Match"] = []string{v}
	return r, nil
}
