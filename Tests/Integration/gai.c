/* getaddrinfo(NAME) as an application calls it: prints the first IPv4 address, or the error's
   name (EAI_NONAME is "not found"; EAI_AGAIN a temporary failure, what SERVFAIL gives). Built
   with gcc (glibc) and musl-gcc (musl) by the resolver tests. */
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

int main(int argc, char **argv) {
    struct addrinfo hints, *found;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_INET;
    hints.ai_socktype = SOCK_STREAM;
    if (argc != 2) return 2;
    int rc = getaddrinfo(argv[1], NULL, &hints, &found);
    if (rc == 0) {
        char text[INET_ADDRSTRLEN];
        inet_ntop(AF_INET, &((struct sockaddr_in *)found->ai_addr)->sin_addr, text, sizeof text);
        printf("%s\n", text);
        freeaddrinfo(found);
        return 0;
    }
    printf("%s\n", rc == EAI_NONAME ? "EAI_NONAME" : rc == EAI_AGAIN ? "EAI_AGAIN" : gai_strerror(rc));
    return 1;
}
