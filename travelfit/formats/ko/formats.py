"""Korean dates as Koreans write them: 오전/오후 before the time ("2026년 12월 4일 오후 10:16"),
where Django's Korean DATETIME_FORMAT puts it after ("… 10:16 오후")."""

DATETIME_FORMAT = "Y년 n월 j일 A g:i"
TIME_FORMAT = "A g:i"
