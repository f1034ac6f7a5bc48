package images

// PauseArchive is the file name of the pause image's OCI archive inside the binary's payload.
// It is unpacked with the payload and imported before the airgap archives of agent/images.
const PauseArchive = "pause-image.tar"
