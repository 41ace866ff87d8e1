/// A 2048-bit RSASHA256 key pair made by `dnssec-keygen -a RSASHA256 -b 2048 -n ZONE example.test`
/// (BIND names it `Kexample.test.+008+28204`: 28204 is its key tag).
enum RSAFixture {
    static let keyTag: UInt16 = 28204
    static let key = """
        ; This is a zone-signing key, keyid 28204, for example.test.
        example.test. IN DNSKEY 256 3 8 AwEAAcc+T6iisDKU5s9huqpAOlp4sIFWcajRY1C7U6mdQM+3AKViZMQ7 9zGDNGKnN7c7anSeg4UCWBS44yNe4nLUq1Cui+miHJXfXpAeVfAIce0I Qq36e/Rs8VlXnQeIEeWTM3eLRVZrHoXQS+nWM8pEknPEL/lCFukc1gJi 3u7KJipDRhzHEnOz3fNg49YFL73rngV5ey8iZnMl3b8ipNKX0+yEN1Mq 3SS4/jzT6Xha0r6u3Ix7VEKPMt5/rnp+/z+IP9DSgW3PeTGHM0G0rOAq tMLuNVbcy1a6AiacxJQm1OJyxx1YHvaEOPuVzIXNKTqVNK2D6hPx4eao nuluYSLJy50=
        """
    static let privateKey = """
        Private-key-format: v1.3
        Algorithm: 8 (RSASHA256)
        Modulus: xz5PqKKwMpTmz2G6qkA6WniwgVZxqNFjULtTqZ1Az7cApWJkxDv3MYM0Yqc3tztqdJ6DhQJYFLjjI17ictSrUK6L6aIcld9ekB5V8Ahx7QhCrfp79GzxWVedB4gR5ZMzd4tFVmsehdBL6dYzykSSc8Qv+UIW6RzWAmLe7somKkNGHMcSc7Pd82Dj1gUvveueBXl7LyJmcyXdvyKk0pfT7IQ3UyrdJLj+PNPpeFrSvq7cjHtUQo8y3n+uen7/P4g/0NKBbc95MYczQbSs4Cq0wu41VtzLVroCJpzElCbU4nLHHVge9oQ4+5XMhc0pOpU0rYPqE/Hh5qie6W5hIsnLnQ==
        PublicExponent: AQAB
        PrivateExponent: IsiGzRyr0ITMv6ci2J6SYWGBBO9js9JsOXeenTWaDzk2WGkTSOvkFYV/k3p4YFlz1gynTsTwPhvh8Xaa52unxdPXErBNt79xaY0WOSusQfKHe4qHcc5EGzIPtLUlVLQsT8IlVncocrmAyz+tNnJes+2r52LJj6RMW0nJ/BuX6pgZqdPTGIfPVGniXpQq5LmZltDbmx7crVjqX2WwiZjlB0uzzKVb5WJ3X14/zfsWreSzJ3GCzbuUHmbx6TyPbG8lm1ndl2vRCr5BzhHJZxzxVDTOZvFz++bxrVtRQzBF02f8Or+aClWW7IS4uhb3EA+ZNMGllcrcFJtu1NYW/BYO8Q==
        Prime1: 5nemOmp0X61ykEMn2otZZE2NZoQG4PlDTE+T1VLmEM9pEtzTviwjChuYElThcG7dYOAG3T9dfBFo69aYIXWUBo/tCLqOLqiekJROXp0+6XJWf+Uc4kqMP+Fxut6nNvEYc3pRW+wlqogYZg/KgNZ2UmkZ9WU6cqGtjxdDgr2l+RE=
        Prime2: 3VEcGiFK0Xb0riY0TNZUZVRdckI2oLrgk8/NpDlxhSzJLhZE2cgS6FvMTUY8g63elSwsopJNiQtYrog2kwiWDRt5eS+hKI6Hhq8tKP4A3giubadRrj+0bX1QKrfDYT8BKJk5aa5aqErDhi6YgDz+eRiRQubhJRL4zaPuUHcjyc0=
        Exponent1: lr/k54kCniLiMSL8SqOj0Uw5Fbl+lmH1d1EGLh+Phadl34S6rEZKlS3/ht4mqFicTeW8F7R+/cyViM5RrHEwZip2raL5peN99KxNpu3MXP8BPZ8sCYkhvBdHQSiqz/FcQQzdcvdAnA9xhjEGEMg3lShSZoXUeW7wDAz3h+ltS0E=
        Exponent2: KdLnLaT2/6isSrDbl121q0SLOEl9C1jlkelmYk+cvV8eUcBRmJpvwEuAy2Wnj/bupmAnuz1Mu8ZSJwGE1rp7qNR1W0p9+S0ePXyjWyjNPyiC1iQVkollbn+NA9WgbaM7c9GpAOi7Jyyh0JzDoxBjwry6ztrU123DaRE+uyQYtk0=
        Coefficient: gJKn7XxcRKD7NJbtZae7qsbJfEHZwtrC8WfI9GsEtL64AkZalo/trikGctYk6BSxq5oOaACqW2zm4ZGFLDZIae0IhuSmx2Pa47JpoppiMhcBck/t0hs6flux2rY9d+woHYiPXd9KkEzyVQ7hplpP4tLHDfjLGxIj1+PAhPYld0A=
        Created: 20261130135659
        Publish: 20261130135659
        Activate: 20261130135659
        """
}
