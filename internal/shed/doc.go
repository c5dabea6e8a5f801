// Package shed is the vocabulary of explicit load shedding shared by every stage: a downstream
// that is full (the caller answers 429) or unavailable (503), each with the time after which a
// retry may succeed.
package shed
