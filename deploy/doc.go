// Package deploy holds no code: its tests check the deployment files of the
// repository (the Dockerfile, docker-compose.yml and the Helm chart under
// helm/flusso) against what the services expect, and that every binary
// builds static for the images.
package deploy
