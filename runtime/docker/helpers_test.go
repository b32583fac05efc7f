package docker_test

import "github.com/moby/moby/client"

func clientNetworkRemoveOptions() client.NetworkRemoveOptions { return client.NetworkRemoveOptions{} }
