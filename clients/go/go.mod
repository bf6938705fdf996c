module github.com/supervisord-lite/supervisord-lite/clients/go

go 1.22
