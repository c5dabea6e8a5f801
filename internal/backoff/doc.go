// Package backoff is the pipeline's one retry wait: exponential backoff with full jitter
// between a floor and a cap, used by every loop that retries or reconnects (the edge's xDS
// reconnect, the loader's INSERT, ledger and dead-letter retries).
//
// The wait before retry attempt+1 (attempt counts the failures so far, from 0) is drawn
// uniformly from [Min, min(Max, Min×2^attempt)]: the first wait is Min, and the range doubles
// with each failure until Max caps it. Drawing from the whole range ("full jitter") spreads the
// retries of many clients that failed together, so they do not hit a recovering server in
// waves. Policies are values: safe for concurrent use, with no state between attempts; the
// caller counts attempts and resets the count after a success.
package backoff
