// Package payload builds the executables shipped beside the distro binary (runc and the CNI
// plugins) from their pinned modules, and assembles the file users download: the launcher
// with a compressed archive of every executable appended. distro/payload defines the format
// and unpacks it.
//
// Everything here is reproducible: the same inputs give the same bytes, so a build can be
// cached by a hash of its inputs and a release checked by building it again.
package payload
