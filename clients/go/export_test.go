package supervisordlite

// OnWritten makes c report each method whose request line is wholly written to the daemon. Set it
// while no call is under way on c. The daemon takes the requests of one connection in the order
// they arrive (PROTOCOL.md, "Order"), so a request written after a join is taken after it.
func OnWritten(c *Client, f func(method string)) { c.written = f }
